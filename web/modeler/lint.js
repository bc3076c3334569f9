// bpmnlint in the page: the `recommended` rules, bundled through a static resolver (bpmnlint's own
// resolver reads node_modules at run time, which a browser cannot). Two recommended rules are
// off because the service's procedures use them on purpose:
// - fake-join: several flows into one task are alternatives (one is taken per case) that meet
//   again, e.g. every "not revocable" branch ends in the same recording task; SpiffWorkflow runs
//   such a task once per arriving token, which is what these diagrams mean, so a merging gateway
//   would add a shape and nothing else;
// - superfluous-label: a name on a plain flow documents it (permit_validity's loop back "read the
//   new valid_to"); officers read these diagrams.
import { Linter } from "bpmnlint";
import recommended from "bpmnlint/config/recommended";
import adHocSubProcess from "bpmnlint/rules/ad-hoc-sub-process";
import conditionalFlows from "bpmnlint/rules/conditional-flows";
import endEventRequired from "bpmnlint/rules/end-event-required";
import eventBasedGateway from "bpmnlint/rules/event-based-gateway";
import eventSubProcessTypedStartEvent from "bpmnlint/rules/event-sub-process-typed-start-event";
import fakeJoin from "bpmnlint/rules/fake-join";
import global from "bpmnlint/rules/global";
import labelRequired from "bpmnlint/rules/label-required";
import linkEvent from "bpmnlint/rules/link-event";
import noBpmndi from "bpmnlint/rules/no-bpmndi";
import noComplexGateway from "bpmnlint/rules/no-complex-gateway";
import noDisconnected from "bpmnlint/rules/no-disconnected";
import noDuplicateSequenceFlows from "bpmnlint/rules/no-duplicate-sequence-flows";
import noGatewayJoinFork from "bpmnlint/rules/no-gateway-join-fork";
import noImplicitSplit from "bpmnlint/rules/no-implicit-split";
import noImplicitEnd from "bpmnlint/rules/no-implicit-end";
import noImplicitStart from "bpmnlint/rules/no-implicit-start";
import noInclusiveGateway from "bpmnlint/rules/no-inclusive-gateway";
import noOverlappingElements from "bpmnlint/rules/no-overlapping-elements";
import singleBlankStartEvent from "bpmnlint/rules/single-blank-start-event";
import singleEventDefinition from "bpmnlint/rules/single-event-definition";
import startEventRequired from "bpmnlint/rules/start-event-required";
import subProcessBlankStartEvent from "bpmnlint/rules/sub-process-blank-start-event";
import superfluousGateway from "bpmnlint/rules/superfluous-gateway";
import superfluousLabel from "bpmnlint/rules/superfluous-label";
import superfluousTermination from "bpmnlint/rules/superfluous-termination";

const RULES = {
  "ad-hoc-sub-process": adHocSubProcess, "conditional-flows": conditionalFlows,
  "end-event-required": endEventRequired, "event-based-gateway": eventBasedGateway,
  "event-sub-process-typed-start-event": eventSubProcessTypedStartEvent, "fake-join": fakeJoin,
  global, "label-required": labelRequired, "link-event": linkEvent, "no-bpmndi": noBpmndi,
  "no-complex-gateway": noComplexGateway, "no-disconnected": noDisconnected,
  "no-duplicate-sequence-flows": noDuplicateSequenceFlows, "no-gateway-join-fork": noGatewayJoinFork,
  "no-implicit-split": noImplicitSplit, "no-implicit-end": noImplicitEnd,
  "no-implicit-start": noImplicitStart, "no-inclusive-gateway": noInclusiveGateway,
  "no-overlapping-elements": noOverlappingElements, "single-blank-start-event": singleBlankStartEvent,
  "single-event-definition": singleEventDefinition, "start-event-required": startEventRequired,
  "sub-process-blank-start-event": subProcessBlankStartEvent, "superfluous-gateway": superfluousGateway,
  "superfluous-label": superfluousLabel, "superfluous-termination": superfluousTermination,
};

export const OFF = ["fake-join", "superfluous-label"];

export const CONFIG = { rules: { ...recommended.rules } };
OFF.forEach((name) => { CONFIG.rules[name] = "off"; });

const resolver = {
  resolveRule(pkg, ruleName) {
    const rule = pkg === "bpmnlint" && RULES[ruleName];
    if (!rule) throw new Error(`unknown rule <${pkg}/${ruleName}>`);
    return rule;
  },
  resolveConfig(pkg, configName) {
    if (pkg === "bpmnlint" && configName === "recommended") return recommended;
    throw new Error(`unknown config <${pkg}:${configName}>`);
  },
};

// [{element_id, rule, message, category}] for the definitions of a bpmn-js modeler. A new Linter
// each time: it caches the rules it made, and some rules (no-duplicate-sequence-flows) keep what
// they saw in their closure, so a second lint with the same one reports every flow as a duplicate.
export async function lint(definitions) {
  const results = await new Linter({ config: CONFIG, resolver }).lint(definitions);
  const problems = [];
  Object.entries(results).forEach(([rule, reports]) => {
    reports.forEach((r) => problems.push({ element_id: r.id, rule: rule.replace(/^bpmnlint\//, ""),
                                           message: r.message, category: r.category }));
  });
  return problems;
}
