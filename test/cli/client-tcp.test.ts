/** The CLI client against the reference service over tcp, served from TypeScript through tsx. */
import { clientSuite } from "./client-cases.js";
import { anchorTs } from "./helpers.js";

clientSuite({ transport: "tcp", fixture: anchorTs, bind: "tcp://127.0.0.1:0" });
