// The inbox list refreshes itself: every data-seconds seconds the page asks /inbox/rows with its
// own query string (same filter, same page) and swaps the list in. Nothing is asked while the tab
// is hidden; coming back asks at once. A failed request leaves the list as it was.
(function () {
  "use strict";
  var box = document.getElementById("queue-rows");
  if (!box) { return; }
  var seconds = parseInt(box.getAttribute("data-seconds"), 10);
  if (!(seconds > 0)) { return; }
  var timer = null;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(box.getAttribute("data-url") + window.location.search, {
      credentials: "same-origin", headers: { "Accept": "text/html" }, cache: "no-store"
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (html) {
      // Keep the officer's place: a focused button or link inside the list is found again by its
      // row and label after the swap.
      var active = document.activeElement;
      var row = active && box.contains(active) ? active.closest("tr[data-task]") : null;
      var label = active ? (active.getAttribute("aria-label") || active.textContent) : null;
      box.innerHTML = html;
      box.setAttribute("data-refreshed", String(Date.now()));
      if (row) {
        var again = box.querySelector('tr[data-task="' + row.getAttribute("data-task") + '"]');
        var targets = again ? again.querySelectorAll("a, button") : [];
        for (var i = 0; i < targets.length; i++) {
          if ((targets[i].getAttribute("aria-label") || targets[i].textContent) === label) { targets[i].focus(); break; }
        }
      }
    }).catch(function () { /* the next tick tries again */ }).then(function () { busy = false; });
  }

  function start() {
    if (timer === null) { timer = window.setInterval(refresh, seconds * 1000); }
  }

  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else { refresh(); start(); }
  });
  if (!document.hidden) { start(); }
}());
