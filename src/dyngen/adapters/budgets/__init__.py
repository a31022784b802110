"""Budget ledgers: Redis (scaled), SQLAlchemy (embedded default and PostgreSQL, in adapters/db), memory."""
