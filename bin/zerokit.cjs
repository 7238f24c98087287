#!/usr/bin/env node
// The zerokit command line; see `zerokit --help`. The code lives in src/cli (compiled to dist).
require("./start.cjs").start("zerokit");
