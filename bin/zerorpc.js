#!/usr/bin/env node
// zerorpc-python's command line, flag for flag: the same as `zerokit rpc`.
import { run } from "../dist/src/cli/main.js";

run("zerorpc");
