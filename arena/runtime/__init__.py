"""The imperative shell around the engine: protocol, backtest and (later) tournament runtime."""
