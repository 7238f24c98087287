/** zerokit/draft — the draft CLIENT/SERVER sockets (loading it prints zeromq's experimental warning). */
export { Client, Server, type ServerMessage } from "./core/draft.js";
