import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { WebSocketServer } from "ws";
import { Bot } from "../src/bot.js";
import { connect, GatewayRefused } from "../src/client.js";
import { signature } from "../src/signing.js";

/** A stand-in for the gateway on a loopback port: checks the signature, then plays `script` to the bot. */
async function host(script: (send: (lines: object[]) => void, received: object[]) => Promise<void> | void,
                    refuse?: { code: string; close: number }) {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  const seen: { signed: boolean; received: object[] } = { signed: false, received: [] };
  server.on("connection", async (socket, request) => {
    const h = request.headers;
    const path = (request.url ?? "").split("?")[0];
    seen.signed = h["x-arena-signature"] === signature("rs_secret", "GET", path, "", String(h["x-arena-timestamp"]),
                                                       String(h["x-arena-nonce"]));
    if (refuse) {
      socket.send(JSON.stringify({ type: "error", code: refuse.code, message: "no" }) + "\n");
      socket.close(refuse.close, refuse.code);
      return;
    }
    const waiters: (() => void)[] = [];
    socket.on("message", (data) => {
      for (const line of data.toString().split("\n")) if (line.trim()) seen.received.push(JSON.parse(line));
      waiters.splice(0).forEach((w) => w());
    });
    const send = (lines: object[]) => socket.send(lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    await script(send, seen.received);
    socket.close(1000, "the tournament ended");
  });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/gateway/cup/trader`;
  return { url, seen, close: () => server.close() };
}

test("a bot runs against the gateway: signed handshake, hello, ticks with done, end", async () => {
  class Trader extends Bot {
    override onTick(): void { if (this.tickN === 1) this.buy("BTC-USD", 0.5); }
  }
  const until = (received: object[], count: number) => new Promise<void>((resolve) => {
    const check = () => (received.length >= count ? resolve() : setTimeout(check, 5));
    check();
  });
  const gateway = await host(async (send, received) => {
    send([{ type: "hello", protocol: 1, bot: "alice:trader", tournament: "cup", balance: 1e6 }]);
    await until(received, 1);
    send([{ type: "ticker", symbol: "BTC-USD", seq: 1, ts: 1, bid: 1, bid_size: 1, ask: 2, ask_size: 1, mid: 1.5,
            last: 1 }, { type: "tick", n: 1, ts: 1 }]);
    await until(received, 3);
    send([{ type: "end", reason: "finished" }]);
  });
  try {
    assert.equal(await connect(gateway.url, "rk_key", "rs_secret", new Trader()), 1000);
    assert.ok(gateway.seen.signed);
    assert.deepEqual(gateway.seen.received, [
      { type: "done", n: 0 },
      { type: "order", symbol: "BTC-USD", side: "buy", qty: 0.5, order_type: "market", client_order_id: "o1" },
      { type: "done", n: 1 },
    ]);
  } finally {
    gateway.close();
  }
});

test("a refusal rejects with the gateway's code", async () => {
  const gateway = await host(() => undefined, { code: "BAD_SIGNATURE", close: 4401 });
  try {
    await assert.rejects(connect(gateway.url, "rk_key", "rs_wrong", new Bot()), (error: unknown) => {
      assert.ok(error instanceof GatewayRefused);
      assert.equal(error.code, "BAD_SIGNATURE");
      assert.equal(error.closeCode, 4401);
      return true;
    });
  } finally {
    gateway.close();
  }
});
