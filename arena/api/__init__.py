"""The Arena HTTP service: FastAPI app, routers for contestants, admins and spectators."""
