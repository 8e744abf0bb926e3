"""Ingest: reports in (native events; later Conviva heartbeats and CMCD v2) -> one internal event type."""
