"""Several HTTP processes and one coordinator (setting ``http_processes``): the HTTP side on every
core, the live log, the ingest worker and the read budgets in one process (docs/scaling.md)."""
