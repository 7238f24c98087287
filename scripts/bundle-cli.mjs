// The build's second step: bundles the command line's plain-call path (dist/src/cli/call.js, as
// tsc wrote it) into one CommonJS file, dist/src/cli/call.cjs, which bin/start.cjs tries first.
// See src/cli/call.ts for why. Packages stay external (msgpackr: loaded by require). Left out as
// well, and loaded from dist/ if ever reached, are the zeromq.js client path (./rpc.js: a plain
// call goes over direct.ts, and falls back to rpc.js only for what that does not speak) and
// what a plain call never runs: commander's flag table, the module loader and its checks, the
// authenticator's policy and certificate files. test/cli/startup.test.ts checks the list.
import { build } from "esbuild";

await build({
  entryPoints: ["dist/src/cli/call.js"],
  outfile: "dist/src/cli/call.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  packages: "external",
  external: [
    "./rpc.js",
    "./rpc-command.js",
    "./load.js",
    "./exposure.js",
    "../state/security.js",
    "../core/security/certificates.js",
  ],
  logLevel: "warning",
  // import.meta is empty in a CommonJS bundle: a module that uses it must not be in this one.
  logOverride: { "empty-import-meta": "error" },
});
