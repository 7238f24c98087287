#!/usr/bin/env node
// The zerokit command line; see `zerokit --help`. The code lives in src/cli (compiled to dist).
import { start } from "./cli.js";

await start("zerokit");
