"""Aggregates over ended content sessions: the per-session inputs and the metric formulas (pure)."""
