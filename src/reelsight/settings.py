"""Every setting of Reelsight in one typed table: name, type, default and help text.

Settings are read once (defaults < environment ``REELSIGHT_<NAME>`` < command-line option), built
into a frozen :class:`Settings` and passed in; nothing reads the environment at import time.
``docs/configuration.md`` is generated from :data:`SETTINGS` and a test keeps it in step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

ENV_PREFIX = "REELSIGHT_"


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    type: type[int] | type[str] | type[float]
    default: int | str | float
    help: str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("db", str, "./reelsight.db", "Path of the embedded SQLite store (created if missing)."),
    Setting(
        "store",
        str,
        "",
        "Store URL of accounts and ended sessions: sqlite:///PATH, clickhouse://USER@HOST:8123/DATABASE (or"
        " clickhouses:// for TLS), chdb:///DIR; '' means the SQLite file `db`. With ClickHouse, `db` keeps only"
        " this node's live-session log and outbox.",
    ),
    Setting(
        "store_password",
        str,
        "",
        "Password of the ClickHouse user, instead of in the store URL (set REELSIGHT_STORE_PASSWORD: it is never"
        " logged).",
    ),
    Setting("host", str, "127.0.0.1", "Address `reelsight serve` and `reelsight demo` listen on."),
    Setting(
        "public_url",
        str,
        "",
        "Scheme, host and any path prefix clients reach the API at (e.g. https://qoe.example.com behind a"
        " TLS proxy); the links of GET /insights/3.0/sessions start with it. '' means the scheme and Host"
        " header of each request.",
    ),
    Setting("port", int, 8080, "TCP port `reelsight serve` and `reelsight demo` listen on."),
    Setting(
        "sqlite_synchronous",
        str,
        "full",
        "'full': an acknowledged event survives a power loss (one fsync per commit); 'normal': it survives a"
        " crash of the process, not of the machine.",
    ),
    Setting("retention_days", int, 31, "Ended sessions older than this many days are purged."),
    Setting("purge_interval_s", int, 3600, "Seconds between two retention purges while serving."),
    Setting("rate_limit_ip_requests", int, 3000, "Requests one client IP may make per rate window."),
    Setting("rate_limit_ip_window_s", int, 300, "Length of the per-IP rate-limit window, in seconds."),
    Setting("rate_limit_account_in_flight", int, 400, "Requests one account may have in flight at once."),
    Setting("query_timeout_ms", int, 10000, "A read that runs longer is cancelled and answered 503."),
    Setting("reader_threads", int, 4, "Threads (each with its own SQLite connection) serving reads."),
    Setting(
        "http_processes",
        int,
        1,
        "HTTP processes of `serve` and `demo`: 1 serves all in one process; N >= 2 runs N beside one coordinator"
        " process that owns the live-session log (about one per core; not with a chdb:// store).",
    ),
    Setting("max_query_string_bytes", int, 16384, "Longest accepted query string; longer is a 400."),
    Setting("max_query_params", int, 256, "Most query parameters (counting repeats) in one request."),
    Setting("max_import_line_bytes", int, 1048576, "Longest accepted line of a JSON Lines import."),
    Setting("auth_cache_s", int, 300, "Seconds a verified secret is remembered, sparing the slow hash."),
    Setting("session_timeout_s", int, 90, "A live session not heard from for this long ends 'By Expiration'."),
    Setting("ingest_max_batch_bytes", int, 1048576, "Largest accepted ingest request body; larger is a 413."),
    Setting("ingest_max_events", int, 1000, "Most events in one ingest batch; more is a 413."),
    Setting(
        "ingest_max_tags_per_session",
        int,
        100,
        "Most custom tags one session may carry; beyond, the event is rejected.",
    ),
    Setting("http_max_request_line_bytes", int, 32768, "Longest request target (path and query); longer is a 414."),
    Setting("http_max_header_bytes", int, 16384, "Largest single header (name and value); larger is a 431."),
    Setting("http_max_headers_bytes", int, 65536, "Largest request head, all headers together; larger is a 431."),
    Setting("http_header_timeout_s", int, 10, "Seconds a request head may take to arrive; slower is a 408."),
    Setting("http_body_timeout_s", int, 30, "Seconds a request body may take to arrive after its head; slower: 408."),
    Setting("http_keep_alive_s", int, 5, "Seconds an idle kept-alive connection stays open."),
    Setting(
        "shutdown_grace_s",
        int,
        5,
        "On SIGTERM, seconds to let requests in flight finish before they are cancelled (nothing unacknowledged"
        " is lost: clients retry).",
    ),
    Setting(
        "conviva_path_prefix",
        str,
        "",
        "Path prefix of the Conviva SDK gateway (POST <prefix>/0/wsg), e.g. /conviva for gatewayUrl https://host/conviva.",
    ),
    Setting(
        "conviva_heartbeat_interval_s",
        int,
        20,
        "Heartbeat interval (cfg.hbi) the Conviva gateway gives the SDK, in whole seconds (>= 1).",
    ),
    Setting("trusted_proxies", str, "", "Comma-separated addresses/CIDRs whose X-Forwarded-For header is believed."),
    Setting(
        "geoip_city_db",
        str,
        "default",
        "MaxMind-format city database: a path, 'default' (the bundled one) or '' (none).",
    ),
    Setting(
        "geoip_asn_db", str, "default", "MaxMind-format ASN database: a path, 'default' (the bundled one) or '' (none)."
    ),
    Setting(
        "geoip_cache_dir",
        str,
        "",
        "Where 'default' unpacks the bundled DB-IP Lite databases (~137 MB); '' means $XDG_CACHE_HOME/reelsight"
        " or ~/.cache/reelsight.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class SettingError(ValueError):
    """A setting was given a value of the wrong type or an unknown name."""


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str = "./reelsight.db"
    store: str = ""
    store_password: str = dataclasses.field(default="", repr=False)
    sqlite_synchronous: str = "full"
    host: str = "127.0.0.1"
    public_url: str = ""
    port: int = 8080
    retention_days: int = 31
    purge_interval_s: int = 3600
    rate_limit_ip_requests: int = 3000
    rate_limit_ip_window_s: int = 300
    rate_limit_account_in_flight: int = 400
    query_timeout_ms: int = 10000
    reader_threads: int = 4
    http_processes: int = 1
    max_query_string_bytes: int = 16384
    max_query_params: int = 256
    max_import_line_bytes: int = 1048576
    auth_cache_s: int = 300
    session_timeout_s: int = 90
    ingest_max_batch_bytes: int = 1048576
    ingest_max_events: int = 1000
    ingest_max_tags_per_session: int = 100
    http_max_request_line_bytes: int = 32768
    http_max_header_bytes: int = 16384
    http_max_headers_bytes: int = 65536
    http_header_timeout_s: int = 10
    http_body_timeout_s: int = 30
    http_keep_alive_s: int = 5
    shutdown_grace_s: int = 5
    conviva_path_prefix: str = ""
    conviva_heartbeat_interval_s: int = 20
    trusted_proxies: str = ""
    geoip_city_db: str = "default"
    geoip_asn_db: str = "default"
    geoip_cache_dir: str = ""

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _convert(setting: Setting, raw: object, origin: str) -> int | str | float:
    if isinstance(raw, setting.type) and not isinstance(raw, bool):
        value: int | str | float = raw
    else:
        try:
            value = setting.type(str(raw))
        except ValueError:
            raise SettingError(f"{origin}: {setting.name} must be {setting.type.__name__}, got {raw!r}") from None
    if isinstance(value, int | float) and value < 0:
        raise SettingError(f"{origin}: {setting.name} must not be negative, got {raw!r}")
    return value


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None) -> Settings:
    """Build settings from defaults, then ``REELSIGHT_*`` variables, then explicit overrides.

    Overrides whose value is ``None`` (an option not given on the command line) are ignored.
    """
    values: dict[str, int | str | float] = {}
    for setting in SETTINGS:
        if environ is not None and setting.env_var in environ:
            values[setting.name] = _convert(setting, environ[setting.env_var], setting.env_var)
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in _BY_NAME:
            raise SettingError(f"unknown setting {name!r}")
        values[name] = _convert(_BY_NAME[name], raw, "--" + name.replace("_", "-"))
    return Settings(**values)  # type: ignore[arg-type]


def check_table_matches_dataclass() -> None:
    """The table and the dataclass must describe the same settings with the same defaults."""
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    table = {s.name: s.default for s in SETTINGS}
    if fields != table:
        raise AssertionError(f"SETTINGS and Settings disagree: {fields} != {table}")
