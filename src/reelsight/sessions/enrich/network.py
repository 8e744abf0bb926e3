"""Client addresses: which one a request came from (X-Forwarded-For, believed only from trusted
proxies) and how much of it an account keeps (its IP privacy setting). Nothing here raises on bad
input: a malformed address is simply unknown.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

IP_PRIVACY_MODES = ("full", "truncate", "drop")
IPV4_TRUNCATE_PREFIX = 24  # "truncate" keeps the /24: 203.0.113.57 -> 203.0.113.0
IPV6_TRUNCATE_PREFIX = 48  # and the /48 of an IPv6 address: 2001:db8:1:2::5 -> 2001:db8:1::
_MAX_ADDRESS_CHARS = 64  # longer than any address with a port, brackets and a zone


def parse_address(text: str) -> Address | None:
    """The address in ``text``, or ``None`` when it is not one.

    Accepts what sockets and proxies write: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``,
    ``[2001:db8::1]`` and ``[2001:db8::1]:443``. An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``,
    what a dual-stack socket reports for an IPv4 client) is returned as IPv4, and an IPv6 zone
    (``%eth0``) is dropped.
    """
    value = text.strip()
    if not value or len(value) > _MAX_ADDRESS_CHARS:
        return None
    if value.startswith("["):
        host, bracket, port = value[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and _is_port(port[1:]))):
            return None
        value = host
    elif value.count(":") == 1:  # an IPv4 address with a port (IPv6 has at least two colons)
        value, _, port = value.partition(":")
        if not _is_port(port):
            return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return IPv6Address(int(address))
    return address


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def is_public(address: Address) -> bool:
    """Whether a GeoIP database can know the address (not private, loopback, link-local, reserved...)."""
    return address.is_global and not address.is_multicast


def parse_trusted_proxies(value: str) -> tuple[str, ...]:
    """The ``trusted_proxies`` setting (comma-separated addresses and CIDRs), checked.

    Raises ``ValueError`` naming the first entry that is not an address or network, so that a
    mistyped setting stops the service at start-up instead of silently trusting nobody.
    """
    entries = tuple(part.strip() for part in value.split(",") if part.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or CIDR network") from None
    return entries


@functools.lru_cache(maxsize=32)
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[Network, ...]:
    networks: list[Network] = []
    for entry in trusted_proxies:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            continue  # client_ip never raises; parse_trusted_proxies reports bad entries at start-up
        if isinstance(network, IPv6Network) and network.network_address.ipv4_mapped is not None:
            mapped = network.network_address.ipv4_mapped
            network = IPv4Network((mapped, max(0, network.prefixlen - 96)))
        networks.append(network)
    return tuple(networks)


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=32)
def _ipv4_ranges(trusted_proxies: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """The trusted IPv4 networks (mapped IPv6 ones included) as (network address, mask) integers."""
    return tuple(
        (int(network.network_address), int(network.netmask))
        for network in _networks(trusted_proxies)
        if isinstance(network, IPv4Network)
    )


def _ipv4(text: str) -> int | None:
    """A plain dotted-quad IPv4 address as an integer; ``None`` for anything else (other forms, such
    as a port or IPv6, take :func:`parse_address`). ``inet_pton`` accepts exactly the dotted quads
    ``ipaddress`` does (no leading zeros, no short forms), each of which is its own canonical text."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # not an IPv4 address; ValueError: an embedded NUL
        return None


def _client_ipv4(peer: str, x_forwarded_for: str | None, trusted_proxies: tuple[str, ...]) -> str | None:
    """:func:`client_ip` when every address it reads is a plain dotted quad (nearly every request
    behind a load balancer), without building ``ipaddress`` objects; ``None`` when one is not, and
    the general walk decides."""
    peer_int = _ipv4(peer)
    if peer_int is None:
        return None
    ranges = _ipv4_ranges(trusted_proxies)
    if not x_forwarded_for or not any(peer_int & mask == network for network, mask in ranges):
        return peer
    client = peer
    for entry in reversed(x_forwarded_for.split(",")):
        text = entry.strip()
        address = _ipv4(text)
        if address is None:
            return None
        client = text
        if not any(address & mask == network for network, mask in ranges):
            break
    return client


def client_ip(peer: str, x_forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The client's address for a request from ``peer`` carrying ``X-Forwarded-For``.

    The header is believed only when ``peer`` is a trusted proxy (an address or CIDR in
    ``trusted_proxies``). Then each proxy appended the address it received from, so the header is
    read from the right, skipping trusted proxies: the first address that is not trusted is the
    client. When every address is trusted, the left-most one is; a malformed entry stops the walk
    (nothing left of it can be believed) and the last good address wins. The result is canonical
    (IPv4-mapped IPv6 as IPv4), or ``""`` when ``peer`` itself is not an address.
    """
    trusted = tuple(trusted_proxies)
    fast = _client_ipv4(peer, x_forwarded_for, trusted)
    return fast if fast is not None else _client_ip_walk(peer, x_forwarded_for, trusted)


def _client_ip_walk(peer: str, x_forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """:func:`client_ip` for any address form."""
    peer_address = parse_address(peer)
    if peer_address is None:
        return ""
    networks = _networks(trusted)
    if not x_forwarded_for or not _is_trusted(peer_address, networks):
        return str(peer_address)
    client = peer_address
    for entry in reversed(x_forwarded_for.split(",")):
        address = parse_address(entry)
        if address is None:
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


def apply_ip_privacy(ip: str, mode: str) -> tuple[str, str]:
    """``(network_info.ip, network_info.ipv6)`` as stored under an account's privacy ``mode``.

    ``"full"`` keeps the address, ``"truncate"`` keeps its /24 (IPv4) or /48 (IPv6) network address,
    ``"drop"`` keeps nothing. An IPv4 client fills ``ip`` and an IPv6 client ``ipv6``; IPv4-mapped
    IPv6 counts as IPv4. A malformed address, or an unknown mode, stores nothing (fail closed).
    """
    address = parse_address(ip)
    if address is None or mode not in ("full", "truncate"):
        return ("", "")
    if mode == "truncate":
        prefix = IPV4_TRUNCATE_PREFIX if address.version == 4 else IPV6_TRUNCATE_PREFIX
        address = ipaddress.ip_network((address, prefix), strict=False).network_address
    return (str(address), "") if address.version == 4 else ("", str(address))
