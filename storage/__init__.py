"""Everything persistent: SQLite (aiosqlite) schema and migrations, frontier, raw archive,
content-hash dedupe with versions, and the corpus export."""
