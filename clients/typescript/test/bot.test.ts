import assert from "node:assert/strict";
import { test } from "node:test";
import { Bot } from "../src/bot.js";
import { answer } from "../src/client.js";
import type { Hello, OrderBook } from "../src/protocol.js";

const hello = { type: "hello", protocol: 1, bot: "b", tournament: "t", balance: 1e6, rules: {}, instruments: [],
                clock: "lockstep", tick_deadline_ms: 2000, max_line_bytes: 65536, channels: [] } as unknown as Hello;

function book(seq: number, snapshot: boolean, bids: [number, number][], asks: [number, number][]): OrderBook {
  return { type: "orderbook", symbol: "SPY", seq, ts: 1, snapshot, bids, asks, last: 100 };
}

test("hello is tick 0: the bot's subscriptions, then done 0", () => {
  const bot = new Bot();
  bot.symbols = ["SPY", "BTC-USD"];
  assert.deepEqual(answer(bot, hello), [{ type: "subscribe", symbols: ["SPY", "BTC-USD"] }, { type: "done", n: 0 }]);
});

test("a tick is answered with the bot's orders, then done n", () => {
  class Buyer extends Bot {
    override onTick(): void { this.buy("SPY", 10, { limit: 99.5 }); }
  }
  const bot = new Buyer();
  answer(bot, hello);
  assert.deepEqual(answer(bot, { type: "tick", n: 3, ts: 5 }), [
    { type: "order", symbol: "SPY", side: "buy", qty: 10, order_type: "limit", client_order_id: "o1", limit_price: 99.5 },
    { type: "done", n: 3 },
  ]);
  assert.equal(bot.tickN, 3);
  assert.deepEqual(answer(bot, { type: "ping", id: "hb-1" }), [{ type: "pong", id: "hb-1" }]);
});

test("an order may ask for the extended session; the regular default stays off the line", () => {
  class Buyer extends Bot {
    override onTick(): void {
      this.buy("SPY", 10, { limit: 99.5, session: "extended", tif: "day" });
      this.buy("SPY", 10, { limit: 99.5, session: "regular" });
    }
  }
  const bot = new Buyer();
  answer(bot, hello);
  assert.deepEqual(answer(bot, { type: "tick", n: 1, ts: 5 }).slice(0, 2), [
    { type: "order", symbol: "SPY", side: "buy", qty: 10, order_type: "limit", client_order_id: "o1", limit_price: 99.5,
      tif: "day", session: "extended" },
    { type: "order", symbol: "SPY", side: "buy", qty: 10, order_type: "limit", client_order_id: "o2", limit_price: 99.5 },
  ]);
});

test("books: a snapshot, deltas in sequence, and a gap asks for one resync until the next snapshot", () => {
  const bot = new Bot();
  answer(bot, book(1, true, [[99, 5], [98, 7]], [[101, 4]]));
  answer(bot, book(2, false, [[99, 6], [98, 0]], [[102, 1]]));
  const spy = bot.books.get("SPY")!;
  assert.deepEqual([...spy.bids], [[99, 6]]);
  assert.equal(spy.bestAsk(), 101);
  assert.equal(spy.mid(), 100);
  answer(bot, book(4, false, [[97, 1]], []));  // seq 3 was lost
  answer(bot, book(5, false, [[96, 1]], []));
  assert.deepEqual(bot.takeOutbox(), [{ type: "resync", symbol: "SPY" }]);
  assert.equal(spy.bids.has(97), false);
  answer(bot, book(6, true, [[95, 2]], [[105, 2]]));
  assert.deepEqual([...spy.bids], [[95, 2]]);
  assert.equal(spy.seq, 6);
});
