// Draws a BPMN diagram with the bpmn-js NavigatedViewer and marks the case's steps:
// completed (green), current (blue), incident (red). Data comes from data-* attributes;
// the page has no inline script (Content-Security-Policy: script-src 'self').
(function () {
  "use strict";

  function show(container, text) {
    var note = document.createElement("p");
    note.className = "diagram-note";
    note.textContent = text;
    container.appendChild(note);
  }

  async function draw(container) {
    if (!window.BpmnJS) {
      show(container, "The diagram viewer is not installed (run `npm ci`).");
      container.dataset.state = "unavailable";
      return;
    }
    var states = {};
    try { states = JSON.parse(container.dataset.states || "{}") || {}; } catch (e) { states = {}; }
    var response = await fetch(container.dataset.bpmnUrl, { credentials: "same-origin" });
    if (!response.ok) {
      show(container, "The diagram could not be loaded.");
      container.dataset.state = "failed";
      return;
    }
    var viewer = new window.BpmnJS({ container: container });
    try {
      await viewer.importXML(await response.text());
    } catch (err) {
      show(container, "The diagram could not be drawn: " + err.message);
      container.dataset.state = "failed";
      return;
    }
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var done = new Set(states.completed || []);
    var current = new Set(states.current || []);
    var failed = new Set(states.incident || []);
    function mark(ids, marker) {
      ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, marker); } });
    }
    mark(done, "step-done");
    mark(current, "step-current");
    mark(failed, "step-incident");
    // A definition's page: how many running cases wait, and how many failed, at each element.
    var overlays = viewer.get("overlays");
    Object.keys(states.counts || {}).forEach(function (id) {
      var c = states.counts[id];
      if (!registry.get(id)) { return; }
      [["running", "count-running", 0], ["incidents", "count-incidents", 40]].forEach(function (kind) {
        if (!c[kind[0]]) { return; }
        var badge = document.createElement("span");
        badge.className = "element-count " + kind[1];
        badge.textContent = String(c[kind[0]]);
        badge.title = kind[0];
        overlays.add(id, { position: { bottom: 12, left: kind[2] - 8 }, html: badge });
      });
    });
    // A flow was taken when its source completed and its target was reached.
    registry.filter(function (el) { return el.waypoints && el.source && el.target; }).forEach(function (flow) {
      var target = flow.target.id;
      if (done.has(flow.source.id) && (done.has(target) || current.has(target) || failed.has(target))) {
        canvas.addMarker(flow.id, "step-done");
      }
    });
    canvas.zoom("fit-viewport", "auto");
    var figure = container.closest("figure");
    if (figure) {
      figure.querySelectorAll("[data-zoom]").forEach(function (button) {
        button.addEventListener("click", function () {
          var how = button.dataset.zoom;
          if (how === "fit") { canvas.zoom("fit-viewport", "auto"); return; }
          canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
        });
      });
    }
    container.addEventListener("keydown", function (event) {
      var step = 40, moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (moves[event.key]) { canvas.scroll({ dx: moves[event.key][0], dy: moves[event.key][1] }); event.preventDefault(); }
      if (event.key === "+" || event.key === "=") { canvas.zoom(canvas.zoom() * 1.25); event.preventDefault(); }
      if (event.key === "-") { canvas.zoom(canvas.zoom() * 0.8); event.preventDefault(); }
    });
    container.dataset.state = "ready";
  }

  document.querySelectorAll(".diagram-canvas[data-bpmn-url]").forEach(function (container) {
    draw(container).catch(function (err) {
      show(container, "The diagram could not be drawn: " + err.message);
      container.dataset.state = "failed";
    });
  });
})();
