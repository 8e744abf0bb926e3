"""The HTTP server configuration, one for ``reelsight serve``, ``demo`` and the tests' live servers."""

from __future__ import annotations

import copy
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import LOGGING_CONFIG

from reelsight.settings import Settings
from reelsight.web.http_protocol import HttpLimits, guarded_protocol


def logging_config() -> dict[str, Any]:
    """uvicorn's logging, with Reelsight's own loggers (``reelsight.*``) on the same stream and format."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["reelsight"] = {"handlers": ["default"], "level": "INFO", "propagate": True}
    return config


def server_config(app: ASGIApp, settings: Settings, *, log_level: str = "info") -> uvicorn.Config:
    """uvicorn with the guarded protocol and every limit and deadline from the settings.

    ``proxy_headers=False``: X-Forwarded-For is honoured only from ``trusted_proxies``, by Reelsight
    itself. The graceful stop is bounded: requests still running ``shutdown_grace_s`` after SIGTERM
    are cancelled (an ingest batch is acknowledged only after its commit, so a cancelled one is
    simply sent again by its client).
    """
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(HttpLimits.from_settings(settings)),
        ws="none",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        log_config=logging_config(),
        proxy_headers=False,
        timeout_keep_alive=max(1, settings.http_keep_alive_s),
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
