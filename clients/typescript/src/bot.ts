// A bot's side of protocol v1: its books (snapshot, then deltas; a gap asks for a resync), portfolio, open orders
// and outbox, and the hooks a bot overrides. Transport-free: `handle` one host message at a time.
import type {
  BotMessage, Hello, HostMessage, OrderBook, OrderUpdate, Portfolio, Side, Ticker, TradingSession,
} from "./protocol.js";

export class Book {
  bids = new Map<number, number>();
  asks = new Map<number, number>();
  seq = 0;
  last: number | null = null;
  constructor(readonly symbol: string) {}

  bestBid(): number | null { return this.bids.size ? Math.max(...this.bids.keys()) : null; }
  bestAsk(): number | null { return this.asks.size ? Math.min(...this.asks.keys()) : null; }
  mid(): number | null {
    const bid = this.bestBid(), ask = this.bestAsk();
    return bid === null || ask === null ? null : (bid + ask) / 2;
  }

  /** Applies a message; false when a delta does not follow the last seq (the copy is stale: resync). */
  apply(message: OrderBook): boolean {
    if (message.snapshot) {
      this.bids = new Map(message.bids);
      this.asks = new Map(message.asks);
    } else {
      if (message.seq !== this.seq + 1) return false;
      for (const [side, levels] of [[this.bids, message.bids], [this.asks, message.asks]] as const) {
        for (const [price, size] of levels) {
          if (size === 0) side.delete(price);
          else side.set(price, size);
        }
      }
    }
    this.seq = message.seq;
    this.last = message.last;
    return true;
  }
}

export interface OrderOptions {
  limit?: number;
  orderType?: "market" | "limit" | "stop" | "stop_limit";
  tif?: "gtc" | "day" | "ioc" | "fok";
  stopPrice?: number;
  postOnly?: boolean;
  /** "extended": a limit order for a US stock or ETF that may trade in pre-market and after-hours too, where the
   * tournament allows it (hello's rules.extended_hours). Default "regular", left off the line. */
  session?: TradingSession;
}

export class Bot {
  /** Symbols to subscribe to at hello (empty: the host's default, everything). */
  symbols: string[] = [];
  info: Hello | null = null;
  books = new Map<string, Book>();
  tickers = new Map<string, Ticker>();
  portfolio: Portfolio | null = null;
  openOrders = new Map<string, OrderUpdate>();
  now = 0;
  tickN = 0;
  private outbox: BotMessage[] = [];
  private resyncing = new Set<string>();
  private orders = 0;

  onStart(_info: Hello): void {}
  onTick(_ts: number): void {}
  onBook(_book: Book): void {}
  onTicker(_ticker: Ticker): void {}
  onOrderUpdate(_update: OrderUpdate): void {}
  onError(code: string, message: string): void { console.error(`arena: ${code}: ${message}`); }
  onEnd(): void {}

  buy(symbol: string, qty: number, options: OrderOptions = {}): string { return this.place(symbol, "buy", qty, options); }
  sell(symbol: string, qty: number, options: OrderOptions = {}): string { return this.place(symbol, "sell", qty, options); }

  place(symbol: string, side: Side, qty: number, options: OrderOptions = {}): string {
    const clientOrderId = `o${++this.orders}`;
    const orderType = options.orderType ?? (options.limit === undefined ? "market" : "limit");
    this.outbox.push({
      type: "order", symbol, side, qty, order_type: orderType, client_order_id: clientOrderId,
      ...(options.limit !== undefined ? { limit_price: options.limit } : {}),
      ...(options.stopPrice !== undefined ? { stop_price: options.stopPrice } : {}),
      ...(options.tif ? { tif: options.tif } : {}),
      ...(options.postOnly ? { post_only: true } : {}),
      ...(options.session && options.session !== "regular" ? { session: options.session } : {}),
    });
    return clientOrderId;
  }

  cancel(clientOrderId: string): void { this.outbox.push({ type: "cancel", client_order_id: clientOrderId }); }
  log(message: string, level: "debug" | "info" | "warning" | "error" = "info"): void {
    this.outbox.push({ type: "log", message, level });
  }
  subscribe(symbols: [string, ...string[]]): void { this.outbox.push({ type: "subscribe", symbols }); }

  takeOutbox(): BotMessage[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  handle(message: HostMessage): void {
    switch (message.type) {
      case "hello":
        this.info = message;
        if (this.symbols.length) this.subscribe([this.symbols[0], ...this.symbols.slice(1)]);
        this.onStart(message);
        break;
      case "orderbook": {
        const book = this.books.get(message.symbol) ?? new Book(message.symbol);
        this.books.set(message.symbol, book);
        if (this.resyncing.has(message.symbol) && !message.snapshot) break;  // waiting for the fresh snapshot
        if (book.apply(message)) {
          this.resyncing.delete(message.symbol);
          this.onBook(book);
        } else if (!this.resyncing.has(message.symbol)) {
          this.resyncing.add(message.symbol);
          this.outbox.push({ type: "resync", symbol: message.symbol });
        }
        break;
      }
      case "ticker":
        this.tickers.set(message.symbol, message);
        this.onTicker(message);
        break;
      case "order_update": {
        const id = message.client_order_id;
        if (id && ["filled", "cancelled", "expired", "rejected"].includes(message.status)) this.openOrders.delete(id);
        else if (id) this.openOrders.set(id, message);
        this.onOrderUpdate(message);
        break;
      }
      case "portfolio":
        this.portfolio = message;
        break;
      case "tick":
        this.now = message.ts;
        this.tickN = message.n;
        this.onTick(message.ts);
        break;
      case "ping":
        this.outbox.push({ type: "pong", id: message.id });
        break;
      case "error":
        this.onError(message.code, message.message);
        break;
      case "end":
        this.onEnd();
        break;
      default:
        break;  // trades, risk, status, and message types newer than this client: ignored
    }
  }
}
