// Lints processes/*.bpmn with the modeler page's own bpmnlint configuration (web/modeler/lint.js,
// bundled the same way as the page) and prints each problem; exits 1 when there is any.
// Usage: node scripts/lint_processes.js [file.bpmn ...]
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const bundle = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lint-")), "lint.cjs");
require("esbuild").buildSync({
  stdin: { contents: 'export { lint, OFF } from "./web/modeler/lint.js"; export { BpmnModdle } from "bpmn-moddle";',
           resolveDir: root },
  bundle: true, platform: "node", format: "cjs", outfile: bundle, logLevel: "warning" });
const { lint, OFF, BpmnModdle } = require(bundle);
// the page's moddle knows the engine's extensions (a parameter's id is not a BPMN id)
const spiffworkflow = require(path.join(root, "web", "modeler", "spiffworkflow.json"));

async function main() {
  const dir = path.join(root, "processes");
  const files = process.argv.slice(2).length ? process.argv.slice(2)
    : fs.readdirSync(dir).filter((f) => f.endsWith(".bpmn")).sort().map((f) => path.join(dir, f));
  let count = 0;
  for (const file of files) {
    const { rootElement } = await new BpmnModdle({ spiffworkflow }).fromXML(fs.readFileSync(file, "utf-8"));
    const problems = await lint(rootElement);
    problems.forEach((p) => console.log(`${path.basename(file)}\t${p.element_id}\t${p.category}\t${p.rule}\t${p.message}`));
    console.log(`${path.basename(file)}: ${problems.length} problem(s)`);
    count += problems.length;
  }
  console.log(`rules off: ${OFF.join(", ")}`);
  process.exit(count ? 1 : 0);
}
main().catch((err) => { console.error(err); process.exit(2); });
