"""service: the daemon and what it exposes (scheduler, monitor, health, metrics, HTTP API)."""
