"""The scale-out store: ended sessions, accounts and keys in ClickHouse (``reelsight[clickhouse]``)."""
