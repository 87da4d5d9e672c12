"""The durable record: SQLAlchemy models, repositories and Alembic migrations, on SQLite or PostgreSQL.

Modules: ``models`` (tables), ``db`` (engine/session from ARENA_DATABASE_URL), ``migrate`` (``upgrade(url)``),
repositories ``accounts``, ``bots``, ``tournaments``, ``record``, ``webhooks`` (plain functions taking a
Session; the caller owns the transaction), ``errors`` (domain errors with codes), ``pgserver`` (a throwaway
PostgreSQL for the tests).
"""
