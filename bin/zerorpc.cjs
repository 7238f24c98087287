#!/usr/bin/env node
// zerorpc-python's command line, flag for flag: the same as `zerokit rpc`.
require("./start.cjs").start("zerorpc");
