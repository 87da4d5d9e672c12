"""The Arena HTTP service: the FastAPI app and its routers for contestants, admins and spectators (the work
behind them is ``arena.service``)."""
