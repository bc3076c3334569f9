// The analysts' modeler: bpmn-js Modeler with its properties panel and a provider for the
// spiffworkflow extensions the engine reads; the server's deploy checks and bpmnlint's rules
// pinned on elements as you edit; the selected user task's form previewed as the inbox draws it;
// two versions compared on their diagrams; deploy with a comment. Every word the page shows comes
// from the server in the officer's language (data-labels). Bundled by scripts/vendor_assets.js
// (no CDN, no inline script).
import BpmnModeler from "bpmn-js/lib/Modeler";
import BpmnViewer from "bpmn-js/lib/NavigatedViewer";
import { lint } from "./lint";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, useService } from "bpmn-js-properties-panel";
import { SelectEntry, TextAreaEntry, TextFieldEntry, isSelectEntryEdited, isTextAreaEntryEdited,
         isTextFieldEntryEdited } from "@bpmn-io/properties-panel";
import { h } from "@bpmn-io/properties-panel/preact";
import { is } from "bpmn-js/lib/util/ModelUtil";
import spiffworkflow from "./spiffworkflow.json";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";

const FORM_PROPERTY = "formJsonSchemaFilename";
const state = { operators: [], forms: [], helpers: [], laneRoles: {}, labels: {}, lintRules: {} };

// A label in the officer's language; %(name)s placeholders as in the server's catalogues.
function L(key, params) {
  const text = state.labels[key] || key;
  return text.replace(/%\((\w+)\)s/g, (all, name) => (params && name in params ? String(params[name]) : all));
}

// --- reading and writing the extensions -------------------------------------------------------

function extensionOf(bo, type) {
  const values = (bo.extensionElements && bo.extensionElements.values) || [];
  return values.find((v) => v.$instanceOf(type));
}

function ensureExtension(element, type, attrs, bpmnFactory, modeling) {
  const bo = element.businessObject;
  let extensions = bo.extensionElements;
  if (!extensions) {
    extensions = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    extensions.$parent = bo;
    modeling.updateProperties(element, { extensionElements: extensions });
  }
  let found = extensionOf(bo, type);
  if (!found) {
    found = bpmnFactory.create(type, attrs || {});
    found.$parent = extensions;
    modeling.updateModdleProperties(element, extensions, { values: [...extensions.values, found] });
  }
  return found;
}

function operatorOf(element) {
  return extensionOf(element.businessObject, "spiffworkflow:ServiceTaskOperator");
}

function parametersOf(element) {
  const op = operatorOf(element);
  return (op && op.parameters && op.parameters.parameterList) || [];
}

function setParameter(element, name, value, bpmnFactory, modeling) {
  const op = ensureExtension(element, "spiffworkflow:ServiceTaskOperator", {}, bpmnFactory, modeling);
  let list = op.parameters;
  if (!list) {
    list = bpmnFactory.create("spiffworkflow:Parameters", { parameterList: [] });
    list.$parent = op;
    modeling.updateModdleProperties(element, op, { parameters: list });
  }
  const existing = list.parameterList.find((p) => p.id === name);
  if (existing) {
    modeling.updateModdleProperties(element, existing, { value });
  } else {
    const param = bpmnFactory.create("spiffworkflow:Parameter", { id: name, type: "any", value });
    param.$parent = list;
    modeling.updateModdleProperties(element, list, { parameterList: [...list.parameterList, param] });
  }
}

function formOf(element) {
  const props = extensionOf(element.businessObject, "spiffworkflow:Properties");
  const prop = props && (props.propertyList || []).find((p) => p.name === FORM_PROPERTY);
  return prop ? prop.value : "";
}

function setForm(element, value, bpmnFactory, modeling) {
  const props = ensureExtension(element, "spiffworkflow:Properties", { propertyList: [] }, bpmnFactory, modeling);
  const list = props.propertyList || [];
  const prop = list.find((p) => p.name === FORM_PROPERTY);
  if (prop) {
    modeling.updateModdleProperties(element, prop, { value });
  } else {
    const created = bpmnFactory.create("spiffworkflow:Property", { name: FORM_PROPERTY, value });
    created.$parent = props;
    modeling.updateModdleProperties(element, props, { propertyList: [...list, created] });
  }
}

// --- the properties panel entries -------------------------------------------------------------

function OperatorEntry(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const current = (operatorOf(element) || {}).id || "";
  const known = state.operators.find((o) => o.name === current);
  return h(SelectEntry, {
    element, id, label: L("operator"),
    description: known ? `${known.description}${known.external ? ` (${L("operator_external")})` : ""}`
                       : L("operator_pick"),
    getValue: () => current,
    setValue: (value) => {
      const op = ensureExtension(element, "spiffworkflow:ServiceTaskOperator", {}, bpmnFactory, modeling);
      modeling.updateModdleProperties(element, op, { id: value });
      const chosen = state.operators.find((o) => o.name === value);
      for (const p of (chosen ? chosen.parameters : [])) {
        if (p.required && !parametersOf(element).some((q) => q.id === p.name)) {
          setParameter(element, p.name, p.name, bpmnFactory, modeling);  // a variable of the same name
        }
      }
    },
    getOptions: () => [{ value: "", label: L("none") }].concat(
      state.operators.map((o) => ({ value: o.name, label: o.name }))),
  });
}

function ParameterEntry(props) {
  const { element, id, parameter } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  const found = parametersOf(element).find((p) => p.id === parameter.name);
  return h(TextFieldEntry, {
    element, id, debounce,
    label: `${parameter.name}: ${parameter.type}${parameter.required ? "" : ` (${L("optional")})`}`,
    description: L("expression_over_case"),
    getValue: () => (found ? found.value : ""),
    setValue: (value) => setParameter(element, parameter.name, value || "", bpmnFactory, modeling),
  });
}

function ResultEntry(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  const known = state.operators.find((o) => o.name === (operatorOf(element) || {}).id);
  return h(TextFieldEntry, {
    element, id, debounce, label: L("result_variable"),
    description: known && known.result.type !== "any" ? `${L("receives")}: ${known.result.type}. ${known.result.description}` : "",
    getValue: () => (operatorOf(element) || {}).resultVariable || "",
    setValue: (value) => {
      const op = ensureExtension(element, "spiffworkflow:ServiceTaskOperator", {}, bpmnFactory, modeling);
      modeling.updateModdleProperties(element, op, { resultVariable: value || undefined });
    },
  });
}

function FormEntry(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const current = formOf(element);
  const form = state.forms.find((f) => f.name === current);
  const lanes = element.businessObject.lanes || [];
  const lane = lanes.length ? lanes[0].name : null;
  const role = lane ? state.laneRoles[lane] : null;
  const preview = form ? form.fields.map((f) => `${f.title}${f.required ? " *" : ""}`).join(", ") : "";
  return h(SelectEntry, {
    element, id, label: L("form"),
    description: `${L("lane")}: ${lane || L("none")} → ${L("role")}: ${role || L("no_lane_role")}` +
                 (preview ? `. ${L("fields")}: ${preview}` : ""),
    getValue: () => current,
    setValue: (value) => setForm(element, value, bpmnFactory, modeling),
    getOptions: () => [{ value: "", label: L("none") }].concat(state.forms.map((f) => ({ value: f.name, label: `${f.name} — ${f.title}` }))),
  });
}

function ExpressionEntry(props) {
  const { element, id, label, read, write } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  return h(TextAreaEntry, {
    element, id, label, debounce, rows: 2,
    description: `${L("python_expression")}. ${L("helpers")}: ${state.helpers.join(", ") || L("none")}`,
    getValue: () => read(element) || "",
    setValue: (value) => write(element, value || "", modeling, bpmnFactory),
  });
}

function expressionEntries(element) {
  const bo = element.businessObject;
  const entries = [];
  if (is(element, "bpmn:SequenceFlow") && bo.sourceRef && is(bo.sourceRef, "bpmn:ExclusiveGateway")
      && bo.sourceRef.default !== bo) {
    entries.push({ id: "spiff-condition", component: ExpressionEntry, isEdited: isTextAreaEntryEdited,
      label: L("condition"),
      read: (el) => el.businessObject.conditionExpression && el.businessObject.conditionExpression.body,
      write: (el, value, modeling, bpmnFactory) => {
        const existing = el.businessObject.conditionExpression;
        if (existing) {
          modeling.updateModdleProperties(el, existing, { body: value });
        } else {
          modeling.updateProperties(el, { conditionExpression: bpmnFactory.create("bpmn:FormalExpression", { body: value }) });
        }
      } });
  }
  const timer = (bo.eventDefinitions || []).find((d) => is(d, "bpmn:TimerEventDefinition"));
  if (timer) {
    const kind = ["timeDate", "timeDuration", "timeCycle"].find((k) => timer[k]);
    if (kind) {
      entries.push({ id: "spiff-timer", component: ExpressionEntry, isEdited: isTextAreaEntryEdited,
        label: `${L("timer")} (${kind})`, read: () => timer[kind].body,
        write: (el, value, modeling) => modeling.updateModdleProperties(el, timer[kind], { body: value }) });
    }
  }
  if (is(element, "bpmn:ScriptTask")) {
    entries.push({ id: "spiff-script", component: ExpressionEntry, isEdited: isTextAreaEntryEdited,
      label: L("script"), read: (el) => el.businessObject.script,
      write: (el, value, modeling) => modeling.updateProperties(el, { script: value }) });
  }
  return entries;
}

function SpiffPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(400, this);
}
SpiffPropertiesProvider.$inject = ["propertiesPanel"];
SpiffPropertiesProvider.prototype.getGroups = function (element) {
  return function (groups) {
    if (is(element, "bpmn:ServiceTask")) {
      const op = state.operators.find((o) => o.name === (operatorOf(element) || {}).id);
      const declared = op ? op.parameters : [];
      const extra = parametersOf(element).filter((p) => !declared.some((d) => d.name === p.id))
        .map((p) => ({ name: p.id, type: L("not_in_signature"), required: false }));
      groups.push({ id: "spiff-service", label: L("group_service"), entries: [
        { id: "spiff-operator", component: OperatorEntry, isEdited: isSelectEntryEdited },
        ...declared.concat(extra).map((p) => ({ id: `spiff-param-${p.name}`, component: ParameterEntry,
                                                parameter: p, isEdited: isTextFieldEntryEdited })),
        { id: "spiff-result", component: ResultEntry, isEdited: isTextFieldEntryEdited },
      ] });
    }
    if (is(element, "bpmn:UserTask") || is(element, "bpmn:ManualTask")) {
      groups.push({ id: "spiff-form", label: L("group_form"), entries: [
        { id: "spiff-form-select", component: FormEntry, isEdited: isSelectEntryEdited }] });
    }
    const expressions = expressionEntries(element);
    if (expressions.length) {
      groups.push({ id: "spiff-expression", label: L("group_expression"), entries: expressions });
    }
    return groups;
  };
};
const SpiffPropertiesModule = { __init__: ["spiffPropertiesProvider"],
                                spiffPropertiesProvider: ["type", SpiffPropertiesProvider] };

// --- the page -------------------------------------------------------------------------------

function parse(text, fallback) {
  try { return JSON.parse(text); } catch (e) { return fallback; }
}

async function start(root) {
  const status = document.getElementById("modeler-status");
  const list = document.getElementById("modeler-problems");
  const result = document.getElementById("modeler-result");
  state.helpers = parse(root.dataset.helpers, []);
  state.laneRoles = parse(root.dataset.laneRoles, {});
  state.labels = parse(root.dataset.labels, {});
  state.lintRules = parse(root.dataset.lintRules, {});
  const headers = { "X-CSRFToken": root.dataset.csrf };
  const catalogue = await (await fetch(root.dataset.catalogueUrl, { credentials: "same-origin" })).json();
  state.operators = catalogue.operators;
  state.forms = catalogue.forms;

  const modeler = new BpmnModeler({
    container: document.getElementById("modeler-canvas"),
    propertiesPanel: { parent: document.getElementById("modeler-properties"), layout: { groups: {
      general: { open: true }, "spiff-service": { open: true }, "spiff-form": { open: true },
      "spiff-expression": { open: true } } } },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, SpiffPropertiesModule],
    moddleExtensions: { spiffworkflow },
  });
  window.permitsModeler = modeler;  // for the browser tests and the curious
  const xml = await (await fetch(root.dataset.diagramUrl, { credentials: "same-origin" })).text();
  await modeler.importXML(xml);
  modeler.get("canvas").zoom("fit-viewport");

  const overlays = modeler.get("overlays");
  const registry = modeler.get("elementRegistry");
  const canvas = modeler.get("canvas");
  let pinned = [];
  let serverProblems = [];
  let lintProblems = [];

  function pinOne(id, kind, reasons) {
    const item = document.createElement("li");
    item.className = kind === "lint" ? "problem lint" : "problem";
    item.dataset.elementId = id;
    item.dataset.kind = kind;
    item.textContent = `${id}: ${reasons.join("; ")}`;
    list.appendChild(item);
    if (registry.get(id) && !registry.get(id).labelTarget) {
      const note = document.createElement("div");
      note.className = kind === "lint" ? "problem-pin lint" : "problem-pin";
      note.dataset.elementId = id;
      note.dataset.kind = kind;
      note.textContent = reasons.join("; ");
      const offset = pinned.filter((p) => p === id).length * 22;
      overlays.add(id, "problem", { position: { top: -8 - offset, left: 0 }, html: note });
      canvas.addMarker(id, kind === "lint" ? "has-lint" : "has-problem");
      pinned.push(id);
    }
  }

  function render() {
    overlays.remove({ type: "problem" });
    pinned.forEach((id) => { if (registry.get(id)) { canvas.removeMarker(id, "has-problem"); canvas.removeMarker(id, "has-lint"); } });
    pinned = [];
    list.replaceChildren();
    const byElement = {};
    serverProblems.forEach((p) => { (byElement[p.element_id] = byElement[p.element_id] || []).push(p.reason); });
    Object.entries(byElement).forEach(([id, reasons]) => pinOne(id, "server", reasons));
    const lintByElement = {};
    lintProblems.forEach((p) => {
      const title = state.lintRules[p.rule] || p.rule;
      const kind = p.category === "error" ? L("lint_error") : L("lint_warning");
      (lintByElement[p.element_id] = lintByElement[p.element_id] || []).push(`${title} (${kind} ${p.rule}: ${p.message})`);
    });
    Object.entries(lintByElement).forEach(([id, reasons]) => pinOne(id, "lint", reasons));
    const count = serverProblems.length + lintProblems.length;
    status.textContent = count ? `${L("problems")}: ${count}` : L("no_problems");
    root.dataset.problems = String(serverProblems.length);
    root.dataset.lintProblems = String(lintProblems.length);
  }

  function pin(problems) {
    serverProblems = problems;
    render();
  }

  // The selected user task's form, drawn by the server as the inbox draws it on a task page.
  const previewPane = document.getElementById("modeler-form-preview");
  const previewBody = document.getElementById("modeler-form-preview-body");
  let previewed = null;
  async function showPreview() {
    const selected = modeler.get("selection").get();
    const element = selected.length === 1 ? selected[0] : null;
    const name = element && (is(element, "bpmn:UserTask") || is(element, "bpmn:ManualTask")) ? formOf(element) : "";
    if (name === previewed) return;
    previewed = name;
    if (!name) {
      previewPane.hidden = true;
      previewBody.replaceChildren();
      previewPane.dataset.form = "";
      return;
    }
    const url = `${root.dataset.formPreviewUrl}?form=${encodeURIComponent(name)}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (previewed !== name) return;  // another task was selected meanwhile
    if (response.ok) {
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      previewBody.replaceChildren(...doc.body.childNodes);
    } else {
      const body = await response.json().catch(() => ({}));
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = `${L("preview_failed")}: ${Object.values(body.errors || {}).flat().join("; ")}`;
      previewBody.replaceChildren(p);
    }
    previewPane.hidden = false;
    previewPane.dataset.form = name;
  }
  modeler.on("selection.changed", () => { showPreview(); });

  let timer = null;
  let checking = 0;
  async function check() {
    const ticket = ++checking;
    root.dataset.checking = "yes";
    const { xml: current } = await modeler.saveXML({ format: true });
    const response = await fetch(root.dataset.validateUrl, { method: "POST", credentials: "same-origin",
      headers: { ...headers, "Content-Type": "application/xml" }, body: current });
    if (ticket !== checking) return;  // an older answer after a newer edit
    const report = await response.json();
    try {
      lintProblems = await lint(modeler.getDefinitions());
    } catch (err) {
      lintProblems = [{ element_id: "lint", rule: "bpmnlint", message: String(err), category: "error" }];
    }
    if (ticket !== checking) return;
    serverProblems = report.problems || [];
    render();
    showPreview();
    root.dataset.checking = "no";
    root.dataset.checks = String(Number(root.dataset.checks || 0) + 1);  // tests wait for the next one
  }
  modeler.on("commandStack.changed", () => {
    root.dataset.checking = "yes";
    clearTimeout(timer);
    timer = setTimeout(check, 500);
  });
  await check();

  document.getElementById("modeler-download").addEventListener("click", async (event) => {
    const link = event.currentTarget;
    if (link.dataset.ready === "yes") { link.dataset.ready = ""; return; }
    event.preventDefault();
    const { xml: current } = await modeler.saveXML({ format: true });
    link.href = URL.createObjectURL(new Blob([current], { type: "application/xml" }));
    link.dataset.ready = "yes";
    link.click();
  });

  document.getElementById("modeler-deploy-button").addEventListener("click", async () => {
    result.replaceChildren();
    const { xml: current } = await modeler.saveXML({ format: true });
    const override = document.getElementById("modeler-override");
    const response = await fetch(root.dataset.deployUrl, { method: "POST", credentials: "same-origin",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify({ bpmn: current, comment: document.getElementById("modeler-comment").value,
                             override_reason: override ? override.value : null }) });
    const body = await response.json();
    const lines = [];
    if (response.ok) {
      body.deployed.forEach((d) => lines.push(L(d.created ? "deployed" : "unchanged",
                                                { process: d.process_id, version: d.version })));
    } else {
      Object.entries(body.errors || {}).forEach(([field, messages]) => lines.push(`${field}: ${messages.join("; ")}`));
      (body.scenarios || []).forEach((s) => lines.push(`${L("refused")}: ${s.message}`));
      if ((body.problems || []).length) { pin(body.problems); lines.push(L("fix_pinned")); }
    }
    lines.forEach((text) => { const p = document.createElement("p"); p.textContent = text; result.appendChild(p); });
    result.dataset.outcome = response.ok ? "deployed" : "refused";
  });
  const compareButton = document.getElementById("modeler-compare-button");
  if (compareButton) compareButton.addEventListener("click", () => compare(root));
  root.dataset.state = "ready";
}

// --- two versions compared on their diagrams -----------------------------------------------

const viewers = {};

async function showVersion(side, version, marks) {
  const root = document.getElementById("modeler");
  if (!viewers[side]) {
    viewers[side] = new BpmnViewer({ container: document.getElementById(`modeler-compare-${side}-canvas`),
                                     moddleExtensions: { spiffworkflow } });
  }
  const viewer = viewers[side];
  const url = root.dataset.versionUrl.replace(/\/0\/diagram\.bpmn$/, `/${version}/diagram.bpmn`);
  await viewer.importXML(await (await fetch(url, { credentials: "same-origin" })).text());
  const registry = viewer.get("elementRegistry");
  const canvas = viewer.get("canvas");
  Object.entries(marks).forEach(([id, marker]) => { if (registry.get(id)) canvas.addMarker(id, marker); });
  canvas.zoom("fit-viewport");
}

async function compare(root) {
  const from = document.getElementById("modeler-compare-from").value;
  const to = document.getElementById("modeler-compare-to").value;
  const list = document.getElementById("modeler-compare-changes");
  const section = document.getElementById("modeler-compare-diagrams");
  root.dataset.compared = "";
  list.replaceChildren();
  const response = await fetch(`${root.dataset.diffUrl}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
                               { credentials: "same-origin" });
  const body = await response.json();
  function line(kind, text) {
    const item = document.createElement("li");
    item.className = `diff-${kind}`;
    item.dataset.kind = kind;
    item.textContent = text;
    list.appendChild(item);
    return item;
  }
  if (!response.ok) {
    line("removed", `${L("compare_failed")}: ${Object.entries(body.errors || {}).map(([f, m]) => `${f}: ${m.join("; ")}`).join(". ")}`);
    section.hidden = true;
    root.dataset.compared = "refused";
    return;
  }
  const title = (e) => (e.name ? `${e.name} (${e.id})` : e.id);
  body.added.forEach((e) => { line("added", `${L("added")}: ${title(e)}`).dataset.elementId = e.id; });
  body.removed.forEach((e) => { line("removed", `${L("removed")}: ${title(e)}`).dataset.elementId = e.id; });
  body.changed.forEach((e) => {
    const details = e.changes.map((c) => `${c.label}: «${c.before ?? ""}» → «${c.after ?? ""}»`).join("; ");
    line("changed", `${L("changed")}: ${title(e)} — ${details}`).dataset.elementId = e.id;
  });
  if (!body.added.length && !body.removed.length && !body.changed.length) line("same", L("compare_nothing"));
  section.hidden = false;
  document.getElementById("modeler-compare-from-title").textContent = L("version", { version: body.from });
  document.getElementById("modeler-compare-to-title").textContent = L("version", { version: body.to });
  const older = {};
  const newer = {};
  body.removed.forEach((e) => { older[e.id] = "diff-removed"; });
  body.changed.forEach((e) => { older[e.id] = "diff-changed"; newer[e.id] = "diff-changed"; });
  body.added.forEach((e) => { newer[e.id] = "diff-added"; });
  await showVersion("from", body.from, older);
  await showVersion("to", body.to, newer);
  root.dataset.compared = `${body.from}-${body.to}`;
}

const root = document.getElementById("modeler");
if (root) {
  start(root).catch((err) => { root.dataset.state = "failed"; root.prepend(document.createTextNode(String(err))); });
}
