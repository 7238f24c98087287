#!/usr/bin/env node
// zerorpc-python's command line, flag for flag: the same as `zerokit rpc`.
import { start } from "./cli.js";

await start("zerorpc");
