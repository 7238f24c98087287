/** The CLI client against the reference service over tcp, served from TypeScript through tsx. */

import { anchorTs } from "../helpers.js";
import { clientSuite } from "./client-cases.js";

clientSuite({ transport: "tcp", fixture: anchorTs, bind: "tcp://127.0.0.1:0" });
