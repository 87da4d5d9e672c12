/* Generated from arena/runtime/protocol.schema.json by scripts/generate.mjs: do not edit. */

/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "HostMessage".
 */
export type HostMessage =
  | Hello
  | OrderBook
  | Ticker
  | Trades
  | OrderUpdate
  | Portfolio
  | MarginWarning
  | SystemStatus
  | Tick
  | Ping
  | ErrorMessage
  | End;
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "OrderType".
 */
export type OrderType = "market" | "limit" | "stop" | "stop_limit";
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "TimeInForce".
 */
export type TimeInForce = "gtc" | "day" | "ioc" | "fok";
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "SymbolName".
 */
export type SymbolName = string;
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Channel".
 */
export type Channel = "ticker" | "orderbook" | "trades";
/**
 * milliseconds since the Unix epoch, UTC (the simulated clock)
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Timestamp".
 */
export type Timestamp = number;
/**
 * [price, size]; size 0 in a delta removes the level
 *
 * @minItems 2
 * @maxItems 2
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Level".
 */
export type Level = [number, number];
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Price".
 */
export type Price = number | null;
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Side".
 */
export type Side = "buy" | "sell";
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "BotMessage".
 */
export type BotMessage = Subscribe | Order | Cancel | Pong | Done | Log | Resync;
/**
 * regular hours only (the default), or pre-market and after-hours too (limit orders for US stocks and ETFs, when the ruleset's extended_hours allows)
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "TradingSession".
 */
export type TradingSession = "regular" | "extended";
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "ClientOrderId".
 */
export type ClientOrderId = string;

/**
 * Bot protocol v1 (docs/protocol.md): every message between the Arena host and a bot, one JSON object per line. HostMessage: host to bot; BotMessage: bot to host. Unknown fields are allowed (forward compatibility); the host's own checks (arena/runtime/protocol.py) are the authority on what a bot may send.
 */
export interface ArenaProtocol {
  host?: HostMessage;
  bot?: BotMessage;
  [k: string]: unknown;
}
/**
 * the greeting, and tick 0: answer with start-up lines, then done 0
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Hello".
 */
export interface Hello {
  type: "hello";
  protocol: number;
  bot: string;
  tournament: string | null;
  balance: number;
  rules: Rules;
  instruments: Instrument[];
  clock: "lockstep" | "realtime";
  tick_deadline_ms: number | null;
  max_line_bytes: number;
  channels: Channel[];
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Rules".
 */
export interface Rules {
  starting_balance: number;
  max_leverage: number;
  max_position_fraction: number;
  symbols: string[] | null;
  asset_classes: string[] | null;
  order_types: OrderType[];
  time_in_force: TimeInForce[];
  short_selling: boolean;
  extended_hours: boolean;
  daily_loss_limit: number | null;
  order_rate: {
    max_orders: number;
    per_ms: number;
    [k: string]: unknown;
  };
  scoring: string;
  /**
   * the bot's memory limit in MiB (its sandbox's): past it the bot is out as oom
   */
  memory_mib?: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Instrument".
 */
export interface Instrument {
  symbol: SymbolName;
  asset_class: string;
  sector: string;
  venue: string;
  tick_size: number;
  qty_decimals: number;
  min_qty: number;
  multiplier: number;
  expiry: string | null;
  /**
   * the currency its prices are in (added within v1; absent: USD)
   */
  currency?: string;
  /**
   * the symbol whose mid converts currency to the USD account (null for USD)
   */
  conversion?: string | null;
  [k: string]: unknown;
}
/**
 * L2: a snapshot, then deltas of the changed levels; seq rises by 1 per (symbol, channel)
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "OrderBook".
 */
export interface OrderBook {
  type: "orderbook";
  symbol: SymbolName;
  seq: number;
  ts: Timestamp;
  snapshot: boolean;
  bids: Level[];
  asks: Level[];
  last: Price;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Ticker".
 */
export interface Ticker {
  type: "ticker";
  symbol: SymbolName;
  seq: number;
  ts: Timestamp;
  bid: Price;
  bid_size: Price;
  ask: Price;
  ask_size: Price;
  mid: Price;
  last: Price;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Trades".
 */
export interface Trades {
  type: "trades";
  symbol: SymbolName;
  seq: number;
  ts: Timestamp;
  price: number;
  qty: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "OrderUpdate".
 */
export interface OrderUpdate {
  type: "order_update";
  status: "accepted" | "partial_fill" | "filled" | "cancelled" | "expired" | "rejected";
  ts: Timestamp;
  order_id: number | null;
  client_order_id: string | null;
  symbol?: string | null;
  side?: Side;
  qty?: number;
  price?: number;
  fee?: number;
  filled_qty?: number;
  remaining?: number;
  code?: string | null;
  message?: string;
  liquidation?: boolean;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Portfolio".
 */
export interface Portfolio {
  type: "portfolio";
  ts: Timestamp;
  cash: number;
  nav: number;
  positions: {
    [k: string]: Position;
  };
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Position".
 */
export interface Position {
  qty: number;
  avg_price: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "MarginWarning".
 */
export interface MarginWarning {
  type: "risk.margin_warning";
  ts: Timestamp;
  margin_used: number;
  margin_cap: number;
  utilization: number;
  threshold: number;
  nav?: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "SystemStatus".
 */
export interface SystemStatus {
  type: "system.status";
  ts: Timestamp;
  status: "open" | "closed" | "halt";
  venue: string | null;
  symbol: string | null;
  reason: string | null;
  [k: string]: unknown;
}
/**
 * the tick boundary: answer done n
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Tick".
 */
export interface Tick {
  type: "tick";
  n: number;
  ts: Timestamp;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Ping".
 */
export interface Ping {
  type: "ping";
  id: number | string;
  [k: string]: unknown;
}
/**
 * one of the bot's lines was refused
 *
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "ErrorMessage".
 */
export interface ErrorMessage {
  type: "error";
  code:
    | "INVALID_JSON"
    | "LINE_TOO_LONG"
    | "INVALID_UTF8"
    | "NOT_AN_OBJECT"
    | "UNKNOWN_TYPE"
    | "INVALID_MESSAGE"
    | "UNKNOWN_SYMBOL"
    | "RATE_LIMITED"
    | "FLOODING"
    | "UNAUTHENTICATED"
    | "STALE_TIMESTAMP"
    | "UNKNOWN_KEY"
    | "BAD_SIGNATURE"
    | "NONCE_REPLAYED"
    | "REMOTE_NOT_ALLOWED"
    | "UNKNOWN_TOURNAMENT"
    | "NOT_ENTERED"
    | "TOURNAMENT_NOT_RUNNING"
    | "ENTRY_OUT"
    | "ALREADY_CONNECTED";
  message: string;
  line?: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "End".
 */
export interface End {
  type: "end";
  reason: string;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Subscribe".
 */
export interface Subscribe {
  type: "subscribe" | "unsubscribe";
  /**
   * @minItems 1
   * @maxItems 256
   */
  symbols: [SymbolName, ...SymbolName[]];
  /**
   * @minItems 1
   */
  channels?: [Channel, ...Channel[]];
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Order".
 */
export interface Order {
  type: "order";
  symbol: SymbolName;
  side: Side;
  qty: number;
  order_type?: OrderType;
  limit_price?: number | null;
  stop_price?: number | null;
  tif?: TimeInForce;
  post_only?: boolean;
  session?: TradingSession;
  client_order_id?: ClientOrderId;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Cancel".
 */
export interface Cancel {
  type: "cancel";
  client_order_id?: ClientOrderId;
  order_id?: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Pong".
 */
export interface Pong {
  type: "pong";
  id: number | string;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Done".
 */
export interface Done {
  type: "done";
  n?: number | null;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Log".
 */
export interface Log {
  type: "log";
  message: string;
  level?: "debug" | "info" | "warning" | "error";
  [k: string]: unknown;
}
/**
 * This interface was referenced by `ArenaProtocol`'s JSON-Schema
 * via the `definition` "Resync".
 */
export interface Resync {
  type: "resync";
  symbol: SymbolName;
  [k: string]: unknown;
}
