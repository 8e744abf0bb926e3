"""Synthetic data: realistic ended-session documents for demos, benchmarks and load tests."""
