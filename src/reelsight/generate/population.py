"""The generator's viewer population: devices with stable ids, place, network and subscription.

Devices are created lazily on first draw and drawn with a heavy skew, so some recur many times.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from reelsight.generate.catalogue import (
    APP_RELEASES,
    CONNECTION_TYPES,
    COUNTRIES,
    DEVICES,
    EXPERIMENTS,
    ISPS,
    PLACES,
    SUBSCRIPTION_TIERS,
    DeviceProfile,
    Isp,
    Place,
)

T = TypeVar("T")

_UINT32 = 0xFFFF_FFFF
_DOCUMENTATION_IPV4_BLOCKS = ("192.0.2", "198.51.100", "203.0.113")
# Share of mobile-device viewers on a cellular network rather than home broadband.
CELLULAR_SHARE = 0.35


class Weighted(Generic[T]):
    """Draws items in proportion to their weights with one uniform draw and a binary search."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        self._items: list[T] = []
        self._cumulative: list[float] = []
        total = 0.0
        for item, weight in pairs:
            if weight > 0:
                total += weight
                self._items.append(item)
                self._cumulative.append(total)
        if not self._items:
            raise ValueError("nothing to draw from")
        self._total = total

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect_right(self._cumulative, rng.random() * self._total)]


@dataclass(frozen=True, slots=True)
class Where:
    """A place rendered in the document's formats."""

    city: str
    state: str
    state_code: str
    country: str
    country_code: str
    continent: str
    postal_codes: tuple[str, ...]
    dma: str


def where_of(place: Place) -> Where:
    country = COUNTRIES[place.country_code]
    return Where(
        city=f"{place.city}, {place.state}, {country.name}",
        state=f"{place.state}, {country.name}",
        state_code=place.state_code,
        country=country.name,
        country_code=country.code,
        continent=country.continent,
        postal_codes=place.postal_codes,
        dma=place.dma if country.code == "US" else "",
    )


@dataclass(frozen=True, slots=True)
class Device:
    """A concrete device: one profile with its OS version, model, browser version and framework chosen."""

    profile: DeviceProfile
    os_version: str
    browser_version: str
    dimensions: dict[str, str]  # the device part of selected_dimensions (app_version excluded)


@dataclass(slots=True)
class Client:
    """One device of the population: what stays the same across its sessions."""

    client_id: str
    viewer_id: str
    device: Device
    where: Where
    isp: Isp
    asn_value: str
    asn_description: str
    ip: str
    ipv6: str
    tier: str
    experiment: str
    app_build: str
    connection_type: str  # "" when the app does not report it
    dimensions: dict[str, str]  # device dimensions plus app_version
    quality: float  # multiplies start-up time and stalls: device factor x network factor
    log_startup_ms: float  # log of this device's median video start time
    salt: int
    sessions: int = 0


class Population:
    """Draws clients (creating them on first draw) and numbers their sessions without repeats."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self._rng = rng
        self._size = size
        self._clients: dict[int, Client] = {}
        self._client_salt = rng.getrandbits(32)
        self._viewer_salt = rng.randrange(10_000_000)
        self._profiles = Weighted((p, p.weight) for p in DEVICES)
        self._devices: dict[tuple[object, ...], Device] = {}
        self._places = Weighted((where_of(p), p.weight) for p in PLACES)
        self._isps = {
            (code, mobile): Weighted((i, i.weight) for i in ISPS if i.country_code == code and i.is_mobile == mobile)
            for code in COUNTRIES
            for mobile in (False, True)
        }
        self._tiers = Weighted(SUBSCRIPTION_TIERS)
        self._experiments = Weighted(EXPERIMENTS)
        self._releases = Weighted(APP_RELEASES)

    def draw(self) -> Client:
        # Skewed: index 0 is the heaviest viewer; with size n/3 most devices are seen a few times.
        index = int(self._size * self._rng.random() ** 1.5)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._new_client(index)
        return client

    def next_session_id(self, client: Client) -> str:
        """A signed 32-bit session id, never repeated for this client."""
        # An odd multiplier makes this a bijection of the per-client counter modulo 2**32.
        value = (client.sessions * 0x9E37_79B1 + client.salt) & _UINT32
        client.sessions += 1
        return str(value - 0x1_0000_0000 if value >= 0x8000_0000 else value)

    def _new_client(self, index: int) -> Client:
        rng = self._rng
        device = self._device()
        where = self._places.pick(rng)
        cellular = device.profile.is_mobile and rng.random() < CELLULAR_SHARE
        isp = self._isps[where.country_code, cellular].pick(rng)
        # The last part is a bijection of the index, so two clients never share an id.
        last = (index * 2_654_435_761 + self._client_salt) & _UINT32
        client_id = f"{rng.getrandbits(32)}.{rng.getrandbits(32)}.{rng.getrandbits(32)}.{last}"
        viewer = (index * 7919 + self._viewer_salt) % 10_000_000
        ipv6 = ""
        if rng.random() < 0.3:
            ipv6 = f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
        release = self._releases.pick(rng)
        connection_type = ""
        if rng.random() < 0.6:
            connection_type = "cellular" if cellular else rng.choice(CONNECTION_TYPES[:2])
        quality = device.profile.startup_factor * isp.quality
        return Client(
            client_id=client_id,
            viewer_id=f"viewer-{viewer:07d}",
            device=device,
            where=where,
            isp=isp,
            asn_value=str(isp.asn),
            asn_description=isp.description,
            ip=f"{rng.choice(_DOCUMENTATION_IPV4_BLOCKS)}.{rng.randrange(1, 255)}",
            ipv6=ipv6,
            tier=self._tiers.pick(rng),
            experiment=self._experiments.pick(rng),
            app_build=f"{release}+{rng.randrange(1000, 9999)}",
            connection_type=connection_type,
            dimensions={"app_version": f"{device.profile.app_prefix}{release}", **device.dimensions},
            quality=quality,
            log_startup_ms=math.log(850.0 * quality),
            salt=rng.getrandbits(32),
        )

    def _device(self) -> Device:
        rng = self._rng
        profile = self._profiles.pick(rng)
        os_version = Weighted(profile.os_versions).pick(rng)
        manufacturer, model, marketing_name, _ = Weighted((m, m[3]) for m in profile.models).pick(rng)
        browser_version = Weighted(profile.browser_versions).pick(rng)
        framework, framework_version, _ = Weighted((f, f[2]) for f in profile.frameworks).pick(rng)
        key = (profile, os_version, model, browser_version, framework, framework_version)
        device = self._devices.get(key)
        if device is None:
            device = self._devices[key] = Device(
                profile=profile,
                os_version=os_version,
                browser_version=browser_version,
                dimensions={
                    "browser_name": profile.browser,
                    "browser_version": browser_version,
                    "device_hardware_type": profile.hardware_type,
                    "device_manufacturer": manufacturer,
                    "device_marketing_name": marketing_name,
                    "device_model": model,
                    "device_name": profile.name,
                    "device_os": profile.os,
                    "device_os_family": profile.os_family,
                    "device_os_version": os_version,
                    "platform_version": "",
                    "player_framework_name": framework,
                    "player_framework_version": framework_version,
                    "player_name": profile.player_name,
                },
            )
        return device
