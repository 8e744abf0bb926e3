"""Enrichment, decided once per session at its start: device from the player's metadata or its
User-Agent, geo and network from the client address through MaxMind-format databases, and the
address itself as the account's privacy setting stores it. Never raises per session.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType

import maxminddb

from reelsight.ingest.events import Device
from reelsight.sessions.context import Enrichment
from reelsight.sessions.enrich.bundled import ATTRIBUTION, DEFAULT, bundled_database
from reelsight.sessions.enrich.device import UserAgentParser
from reelsight.sessions.enrich.geo import (
    EnrichmentSetupError,
    geo_from_record,
    lookup,
    network_from_city_record,
    network_from_record,
    open_database,
)
from reelsight.sessions.enrich.network import (
    IP_PRIVACY_MODES,
    apply_ip_privacy,
    client_ip,
    parse_address,
    parse_trusted_proxies,
)

__all__ = [
    "DEFAULT",
    "IP_PRIVACY_MODES",
    "Enricher",
    "EnrichmentSetupError",
    "apply_ip_privacy",
    "client_ip",
    "parse_trusted_proxies",
]

log = logging.getLogger("reelsight.enrich")


def resolve_database_path(value: str, *, kind: str, setting: str, cache_dir: str = "") -> str:
    """The file a database setting names: a path as given, ``""`` (disabled), or for ``"default"``
    the bundled DB-IP Lite database (``""``, with a warning, when its package is not installed)."""
    if value != DEFAULT:
        return value
    path = bundled_database(kind, cache_dir)
    if path:
        log.info("%s: using the bundled %s database %s (%s)", setting, kind, path, ATTRIBUTION)
    else:
        log.warning("%s: no bundled %s database is installed; %s enrichment is off", setting, kind, kind)
    return path


class Enricher:
    """Opens the city and ASN databases once and enriches sessions from them.

    Each path is a MaxMind DB file, ``""`` (that lookup disabled: its fields stay empty) or
    ``"default"`` (the bundled database, if installed). A path that does not name a readable
    database of the right kind raises :class:`EnrichmentSetupError` here, at start-up: a
    misconfigured service fails fast instead of serving sessions without geo data. Thread-safe.
    """

    def __init__(
        self, city_db_path: str, asn_db_path: str, *, cache_dir: str = "", ua_cache_size: int = 10_000
    ) -> None:
        city = resolve_database_path(city_db_path, kind="city", setting="geoip_city_db", cache_dir=cache_dir)
        asn = resolve_database_path(asn_db_path, kind="asn", setting="geoip_asn_db", cache_dir=cache_dir)
        self.city_db_path, self.asn_db_path = city, asn
        with contextlib.ExitStack() as opened:
            self._city: maxminddb.Reader | None = None
            self._asn: maxminddb.Reader | None = None
            if self.city_db_path:
                self._city = open_database(self.city_db_path, kind="city", setting="geoip_city_db")
                opened.callback(self._city.close)
            if self.asn_db_path:
                self._asn = open_database(self.asn_db_path, kind="asn", setting="geoip_asn_db")
            opened.pop_all()
        self._user_agents = UserAgentParser(ua_cache_size)

    @property
    def user_agent_backend(self) -> str:
        return self._user_agents.backend

    def enrich(self, *, device: Device, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
        """The session's enrichment. ``ip`` is the full client address (geo is looked up before the
        privacy setting ``ip_privacy`` — "full", "truncate" or "drop" — truncates or drops it)."""
        address = parse_address(ip)
        city_record = lookup(self._city, address)
        network = network_from_record(lookup(self._asn, address))
        if not network.asn.value:
            network = network_from_city_record(city_record)
        ipv4, ipv6 = apply_ip_privacy(ip, ip_privacy)
        return Enrichment(
            device=self._user_agents.device_fields(device, user_agent),
            geo=geo_from_record(city_record),
            asn=network.asn,
            isp=network.isp,
            ip=ipv4,
            ipv6=ipv6,
        )

    def close(self) -> None:
        for reader in (self._city, self._asn):
            if reader is not None:
                reader.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
