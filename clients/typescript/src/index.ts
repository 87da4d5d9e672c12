export { Book, Bot, type OrderOptions } from "./bot.js";
export { answer, connect, GatewayRefused } from "./client.js";
export { canonical, SCHEME, signature, signedHeaders } from "./signing.js";
export type * from "./protocol.js";
