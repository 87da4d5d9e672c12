// connect(url, key, secret, bot): run a bot against Arena's bot gateway over a WebSocket (docs/remote-bots.md).
import WebSocket from "ws";
import type { Bot } from "./bot.js";
import type { BotMessage, HostMessage } from "./protocol.js";
import { signedHeaders } from "./signing.js";

/** The gateway turned the bot away: `code` says why (BAD_SIGNATURE, STALE_TIMESTAMP, NOT_ENTERED, ...). */
export class GatewayRefused extends Error {
  constructor(readonly code: string, message: string, readonly closeCode: number) {
    super(`${code}: ${message}`);
  }
}

const FLUSH_AFTER = new Set(["hello", "tick", "ping", "end"]);

/** Lines to send after one host message: the outbox, and `done` after hello (tick 0) and each tick. */
export function answer(bot: Bot, message: HostMessage): BotMessage[] {
  bot.handle(message);
  if (!FLUSH_AFTER.has(message.type)) return [];
  const out = bot.takeOutbox();
  if (message.type === "hello") out.push({ type: "done", n: 0 });
  else if (message.type === "tick") out.push({ type: "done", n: message.n });
  return out;
}

/** Runs `bot` until the tournament ends; resolves with the close code (1000), rejects with GatewayRefused. */
export function connect(url: string, key: string, secret: string, bot: Bot): Promise<number> {
  const parsed = new URL(url);
  const headers = signedHeaders(key, secret, "GET", parsed.pathname, parsed.search.replace(/^\?/, ""));
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, maxPayload: 64 * 1024 * 1024 });
    let greeted = false;
    let refusal: { code: string; message: string } | null = null;
    socket.on("message", (data) => {
      const out: BotMessage[] = [];
      for (const line of data.toString().split("\n")) {
        if (!line.trim()) continue;
        const message = JSON.parse(line) as HostMessage;
        if (message.type === "hello") greeted = true;
        else if (message.type === "error" && !greeted) refusal = { code: message.code, message: message.message };
        out.push(...answer(bot, message));
      }
      if (out.length && socket.readyState === WebSocket.OPEN) {
        socket.send(out.map((m) => JSON.stringify(m)).join("\n") + "\n");
      }
    });
    socket.on("close", (code, reason) => {
      if (greeted) resolve(code);
      else reject(new GatewayRefused(refusal?.code ?? "CLOSED", refusal?.message ?? reason.toString(), code));
    });
    socket.on("error", (error) => { if (!greeted) reject(error); });
  });
}
