#!/usr/bin/env node
// The zerokit command line; see `zerokit --help`. The code lives in src/cli (compiled to dist).
import { run } from "../dist/src/cli/main.js";

run("zerokit");
