"""Reelsight: self-hosted video QoE analytics (player reports -> sessions -> store -> read API)."""

__version__ = "0.1.0"
