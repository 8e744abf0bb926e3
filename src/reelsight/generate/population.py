"""The generator's viewer population: households of one to three devices, each device with a stable id.

Devices are created lazily on first draw and drawn with a heavy skew, so some recur many times. The
devices of one household share its viewer id, place, home network, subscription and home address;
the home address changes now and then (a new DHCP lease), a phone on a cellular network changes
address every few hours.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
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
# Share of mobile-device viewers on a cellular network rather than home broadband.
CELLULAR_SHARE = 0.35
# Devices per household, for the households that devices are grouped into (three slots each).
HOUSEHOLD_DEVICES: tuple[tuple[int, float], ...] = ((1, 0.4), (2, 0.35), (3, 0.25))
_SLOTS = 3
IPV6_SHARE = 0.3
# How long a home address lasts, drawn per household (days); a cellular address lasts hours.
HOME_LEASE_DAYS: tuple[tuple[int, float], ...] = ((7, 0.1), (30, 0.3), (90, 0.35), (365, 0.25))
CELLULAR_LEASE_MS = 4 * 3_600_000
_DAY_MS = 86_400_000
# IPv4 addresses come from the shared address space 100.64.0.0/10 (RFC 6598): 2**22 addresses that
# are never a real subscriber's public address.
_POOL_BITS = 22
_POOL_MASK = (1 << _POOL_BITS) - 1


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


@dataclass(frozen=True, slots=True)
class Household:
    """The people behind one to three devices: one viewer id, one home, one subscription."""

    number: int  # unique in the population
    viewer_id: str
    where: Where
    isp: Isp  # the home's fixed-line network
    tier: str
    experiment: str
    address_salt: int
    lease_ms: int  # how long a home address lasts
    lease_phase_ms: int
    ipv6_prefix: str  # "2001:db8:x:y", or "" when the home has no IPv6


def pool_address(value: int) -> str:
    """The IPv4 address of a number in 100.64.0.0/10 (its low 22 bits)."""
    value &= _POOL_MASK
    return f"100.{64 + (value >> 16)}.{(value >> 8) & 255}.{value & 255}"


def _mix(salt: int, epoch: int) -> int:
    """A well-spread 32-bit number of (salt, epoch): a home's address in one lease period."""
    value = ((salt ^ (epoch * 0x9E37_79B1)) * 0x85EB_CA6B) & _UINT32
    return (value ^ (value >> 13)) * 0xC2B2_AE35 & _UINT32


@dataclass(slots=True)
class Client:
    """One device of the population: what stays the same across its sessions.

    Its IPv4 address changes over time: :meth:`ip_at`.
    """

    client_id: str
    viewer_id: str
    device: Device
    where: Where
    isp: Isp
    asn_value: str
    asn_description: str
    ipv6: str
    tier: str
    experiment: str
    app_build: str
    connection_type: str  # "" when the app does not report it
    dimensions: dict[str, str]  # device dimensions plus app_version
    quality: float  # multiplies start-up time and stalls: device factor x network factor
    log_startup_ms: float  # log of this device's median video start time
    salt: int
    household: Household
    cellular: bool
    sessions: int = 0
    # The address of the lease period ``_lease``: a home's (its salt, period and phase) or, on a
    # cellular network, the device's own.
    _address_salt: int = field(default=0, init=False, repr=False)
    _lease_ms: int = field(default=CELLULAR_LEASE_MS, init=False, repr=False)
    _lease_phase_ms: int = field(default=0, init=False, repr=False)
    _lease: int = field(default=-1, init=False, repr=False)
    _address: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cellular:
            self._address_salt = self.salt
        else:
            home = self.household
            self._address_salt, self._lease_ms, self._lease_phase_ms = (
                home.address_salt,
                home.lease_ms,
                home.lease_phase_ms,
            )

    def ip_at(self, epoch_ms: int) -> str:
        """The device's IPv4 address at ``epoch_ms``: the home's address of that lease period, or on a
        cellular network one that changes every few hours."""
        lease = (epoch_ms + self._lease_phase_ms) // self._lease_ms
        if lease != self._lease:
            self._lease, self._address = lease, pool_address(_mix(self._address_salt, lease))
        return self._address


class Population:
    """Draws clients (creating them on first draw) and numbers their sessions without repeats.

    Clients are grouped into households by a fixed permutation of their indices into slots of three:
    a household takes the first one to three slots of its group, each other slot is a household of
    one. So any device's household is known when it is first drawn, whatever the order of draws.
    """

    def __init__(self, rng: random.Random, size: int) -> None:
        self._rng = rng
        self._size = size
        self._clients: dict[int, Client] = {}
        self._households: dict[int, Household] = {}
        self._group_sizes: dict[int, int] = {}
        self._spread = _coprime_multiplier(size)
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
        self._household_devices = Weighted(HOUSEHOLD_DEVICES)
        self._leases = Weighted(HOME_LEASE_DAYS)

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
        home = self._household(index)
        device = self._device()
        where = home.where
        cellular = device.profile.is_mobile and rng.random() < CELLULAR_SHARE
        isp = self._isps[where.country_code, True].pick(rng) if cellular else home.isp
        # The last part is a bijection of the index, so two clients never share an id.
        last = (index * 2_654_435_761 + self._client_salt) & _UINT32
        client_id = f"{rng.getrandbits(32)}.{rng.getrandbits(32)}.{rng.getrandbits(32)}.{last}"
        ipv6 = ""
        if cellular:
            if rng.random() < IPV6_SHARE:
                ipv6 = f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
        elif home.ipv6_prefix:
            ipv6 = f"{home.ipv6_prefix}::{rng.getrandbits(16):x}"
        release = self._releases.pick(rng)
        connection_type = ""
        if rng.random() < 0.6:
            connection_type = "cellular" if cellular else rng.choice(CONNECTION_TYPES[:2])
        quality = device.profile.startup_factor * isp.quality
        return Client(
            client_id=client_id,
            viewer_id=home.viewer_id,
            device=device,
            where=where,
            isp=isp,
            asn_value=str(isp.asn),
            asn_description=isp.description,
            ipv6=ipv6,
            tier=home.tier,
            experiment=home.experiment,
            app_build=f"{release}+{rng.randrange(1000, 9999)}",
            connection_type=connection_type,
            dimensions={"app_version": f"{device.profile.app_prefix}{release}", **device.dimensions},
            quality=quality,
            log_startup_ms=math.log(850.0 * quality),
            salt=rng.getrandbits(32),
            household=home,
            cellular=cellular,
        )

    def _household(self, index: int) -> Household:
        """The household of client ``index``, created on the first draw of any of its devices."""
        slot = index * self._spread % self._size
        group, position = divmod(slot, _SLOTS)
        members = self._group_sizes.get(group)
        if members is None:
            members = self._group_sizes[group] = self._household_devices.pick(self._rng)
        number = group * _SLOTS + (0 if position < members else position)
        home = self._households.get(number)
        if home is None:
            home = self._households[number] = self._new_household(number)
        return home

    def _new_household(self, number: int) -> Household:
        rng = self._rng
        where = self._places.pick(rng)
        viewer = (number * 7919 + self._viewer_salt) % 10_000_000
        lease_ms = self._leases.pick(rng) * _DAY_MS
        ipv6_prefix = f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}" if rng.random() < IPV6_SHARE else ""
        return Household(
            number=number,
            viewer_id=f"viewer-{viewer:07d}",
            where=where,
            isp=self._isps[where.country_code, False].pick(rng),
            tier=self._tiers.pick(rng),
            experiment=self._experiments.pick(rng),
            address_salt=rng.getrandbits(32),
            lease_ms=lease_ms,
            lease_phase_ms=int(rng.random() * lease_ms),
            ipv6_prefix=ipv6_prefix,
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


def _coprime_multiplier(size: int) -> int:
    """A multiplier coprime with ``size``: ``i * m % size`` is then a permutation of ``range(size)``."""
    multiplier = 2_654_435_761 % size if size > 1 else 1
    while math.gcd(multiplier, size) != 1:
        multiplier += 1
    return multiplier
