// Copies the bpmn-js viewer from node_modules into web/static/vendor/ (served locally, no CDN),
// and bundles the analysts' modeler (web/modeler: bpmn-js Modeler, bpmn-js-properties-panel and
// the spiffworkflow provider) into web/static/vendor/modeler/ with esbuild.
// Runs as the root package's postinstall, so `npm ci --no-audit --no-fund` is the whole step.
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const dist = path.join(root, "node_modules", "bpmn-js", "dist");
const target = path.join(root, "web", "static", "vendor", "bpmn-js");

fs.rmSync(target, { recursive: true, force: true });
fs.mkdirSync(target, { recursive: true });
fs.copyFileSync(path.join(dist, "bpmn-navigated-viewer.production.min.js"),
                path.join(target, "bpmn-navigated-viewer.production.min.js"));
fs.cpSync(path.join(dist, "assets"), path.join(target, "assets"), { recursive: true });
const version = require(path.join(root, "node_modules", "bpmn-js", "package.json")).version;
fs.writeFileSync(path.join(target, "VERSION"), version + "\n");
console.log(`bpmn-js ${version} viewer copied to ${path.relative(root, target)}`);

const modelerTarget = path.join(root, "web", "static", "vendor", "modeler");
fs.rmSync(modelerTarget, { recursive: true, force: true });
require("esbuild").buildSync({
  entryPoints: [path.join(root, "web", "modeler", "index.js")],
  bundle: true, minify: true, format: "iife", target: "es2020",
  outfile: path.join(modelerTarget, "modeler.js"),
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  jsx: "automatic", jsxImportSource: "@bpmn-io/properties-panel/preact",
  logLevel: "warning",
});
console.log(`modeler bundled to ${path.relative(root, modelerTarget)}`);
