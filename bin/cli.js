// Loads the command line from dist/, or, in a clone that was never built, from the TypeScript
// sources through tsx (a devDependency), so `npm start`'s printed commands work before a build.
import { existsSync } from "node:fs";

const built = new URL("../dist/src/cli/main.js", import.meta.url);
const source = new URL("../src/cli/main.ts", import.meta.url);

/** Runs the `zerokit` or `zerorpc` program. */
export async function start(program) {
  if (existsSync(built) || !existsSync(source)) {
    (await import(built.href)).run(program);
    return;
  }
  const { tsImport } = await import("tsx/esm/api");
  (await tsImport(source.href, import.meta.url)).run(program);
}
