// Starts the command line. A plain call (`zerokit rpc ADDRESS METHOD ...`, no flag) runs from
// dist/src/cli/call.cjs, the build's one-file CommonJS bundle of that path (see src/cli/call.ts):
// loaded by require, with no ES module in the process, it starts in about 60% of the CPU time of
// the same code as ES modules. These bins are CommonJS for the same reason. Anything else runs
// dist/src/cli/main.js; in a clone that was never built, the TypeScript sources through tsx (a
// devDependency), so `npm start`'s printed commands work before a build.
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const { pathToFileURL } = require("node:url");

const root = join(__dirname, "..");
const bundle = join(root, "dist", "src", "cli", "call.cjs");
const built = join(root, "dist", "src", "cli", "main.js");
const source = join(root, "src", "cli", "main.ts");

/** Runs the `zerokit` or `zerorpc` program. */
async function start(program) {
  if (existsSync(bundle) && require(bundle).runPlainCall(program)) return;
  if (existsSync(built) || !existsSync(source)) {
    (await import(pathToFileURL(built).href)).run(program);
    return;
  }
  const { tsImport } = await import("tsx/esm/api");
  (await tsImport(pathToFileURL(source).href, __filename)).run(program);
}

module.exports = { start };
