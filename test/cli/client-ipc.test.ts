/** The CLI client against the reference service over ipc, served from the compiled .js. */

import { anchorJs, ipcEndpoint } from "../helpers.js";
import { clientSuite } from "./client-cases.js";

clientSuite({ transport: "ipc", fixture: anchorJs, bind: ipcEndpoint("client") });
