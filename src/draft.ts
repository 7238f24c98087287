/** zerokit/draft — the draft CLIENT/SERVER and RADIO/DISH sockets (loading it prints zeromq's experimental warning). */
export { Client, Dish, type DishMessage, Radio, Server, type ServerMessage } from "./core/draft.js";
