"""Client addresses: X-Forwarded-For trust rules, address forms, and the per-account IP privacy modes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsight.sessions.enrich import apply_ip_privacy, client_ip, parse_trusted_proxies
from reelsight.sessions.enrich.network import _client_ip_walk, parse_address

PROXIES = ("10.0.0.0/8", "192.168.1.1", "2001:db8:ffff::/48")


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        # No header, or a peer that is not a trusted proxy: the peer, whatever the header says.
        ("198.51.100.7", None, "198.51.100.7"),
        ("198.51.100.7", "", "198.51.100.7"),
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),
        ("11.0.0.1", "203.0.113.5", "11.0.0.1"),
        # A trusted peer: the right-most address that is not itself trusted.
        ("10.1.2.3", "203.0.113.5", "203.0.113.5"),
        ("192.168.1.1", "203.0.113.5", "203.0.113.5"),
        ("10.1.2.3", "203.0.113.5, 10.9.9.9", "203.0.113.5"),
        ("10.1.2.3", "203.0.113.5,10.9.9.9 , 192.168.1.1", "203.0.113.5"),
        # A client cannot spoof its way past the first untrusted hop by prepending addresses.
        ("10.1.2.3", "6.6.6.6, 203.0.113.5, 10.9.9.9", "203.0.113.5"),
        # Every hop trusted: the left-most one is the best we know.
        ("10.1.2.3", "10.4.4.4, 10.9.9.9", "10.4.4.4"),
        # A malformed entry stops the walk: the last good address wins.
        ("10.1.2.3", "203.0.113.5, garbage, 10.9.9.9", "10.9.9.9"),
        ("10.1.2.3", "203.0.113.5, unknown", "10.1.2.3"),
        ("10.1.2.3", "203.0.113.5,", "10.1.2.3"),
        ("10.1.2.3", ",,,", "10.1.2.3"),
        # Ports, brackets, IPv6, IPv4-mapped peers from dual-stack sockets.
        ("10.1.2.3", "203.0.113.5:4711", "203.0.113.5"),
        ("10.1.2.3", "[2a00:1450::1]:443", "2a00:1450::1"),
        ("10.1.2.3", "2A00:1450:0:0::1", "2a00:1450::1"),
        ("::ffff:10.1.2.3", "203.0.113.5", "203.0.113.5"),
        ("::ffff:198.51.100.7", "203.0.113.5", "198.51.100.7"),
        ("2001:db8:ffff:1::2", "203.0.113.5", "203.0.113.5"),
        ("[2001:db8:ffff:1::2]:51000", "2a00:1450::1, 2001:db8:ffff::9", "2a00:1450::1"),
        # A peer that is no address (a Unix socket, a test client's name).
        ("", "203.0.113.5", ""),
        ("testclient", "203.0.113.5", ""),
    ],
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(peer: str, xff: str | None, expected: str) -> None:
    assert client_ip(peer, xff, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_ip("10.1.2.3", "203.0.113.5", ()) == "10.1.2.3"


def test_malformed_trusted_proxy_entries_are_skipped_not_raised() -> None:
    assert client_ip("10.1.2.3", "203.0.113.5", ["nonsense", "10.0.0.0/8"]) == "203.0.113.5"
    assert client_ip("10.1.2.3", "203.0.113.5", ["nonsense"]) == "10.1.2.3"


def test_a_mapped_ipv6_proxy_network_covers_ipv4_peers() -> None:
    assert client_ip("10.1.2.3", "203.0.113.5", ["::ffff:10.0.0.0/104"]) == "203.0.113.5"


def test_the_trusted_proxies_setting_is_checked() -> None:
    assert parse_trusted_proxies(" 10.0.0.0/8, ,192.168.1.1,::1 ") == ("10.0.0.0/8", "192.168.1.1", "::1")
    assert parse_trusted_proxies("") == ()
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33' is not an IP address or CIDR network")):
        parse_trusted_proxies("127.0.0.1, 10.0.0.0/33")


# Mostly dotted quads in and out of the proxies' networks (the fast path), some in other forms (the walk).
_QUADS = st.sampled_from(["10.1.2.3", "10.255.0.1", "192.168.1.1", "192.168.1.2", "127.0.0.1", "203.0.113.5"])
_OTHER_FORMS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["01.2.3.4", "1.2.3", "10.1.2.3:80", "::ffff:10.1.2.3", "[::1]:443", "unknown", "", "1.2.3.4\x00"]),
    st.text(alphabet="0123456789.: abcdef[]", max_size=20),
)
_ADDRESS_TEXTS = st.one_of(_QUADS, _QUADS, _QUADS, _OTHER_FORMS)
_PROXY_LISTS = st.lists(
    st.sampled_from(
        ["10.0.0.0/8", "192.168.1.1", "127.0.0.1", "0.0.0.0/0", "::ffff:10.0.0.0/104", "2001:db8::/32", "::/0"]
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=500)
@given(
    peer=_ADDRESS_TEXTS,
    xff=st.none() | st.lists(st.tuples(st.sampled_from(["", "", " ", "  "]), _ADDRESS_TEXTS), min_size=1, max_size=5),
    proxies=_PROXY_LISTS,
)
def test_the_ipv4_fast_path_agrees_with_the_general_walk(
    peer: str, xff: list[tuple[str, str]] | None, proxies: list[str]
) -> None:
    """Plain dotted quads skip ``ipaddress``: the answer is the one the walk over any form gives."""
    header = None if xff is None else ",".join(space + text for space, text in xff)
    assert client_ip(peer, header, proxies) == _client_ip_walk(peer, header, tuple(proxies))


@given(peer=st.text(max_size=80), xff=st.none() | st.text(max_size=300))
def test_client_ip_never_raises(peer: str, xff: str | None) -> None:
    result = client_ip(peer, xff, ["0.0.0.0/0", "::/0"])
    assert result == "" or parse_address(result) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        (" 203.0.113.5 ", "203.0.113.5"),
        ("203.0.113.5:80", "203.0.113.5"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("[::ffff:203.0.113.5]:443", "203.0.113.5"),
        ("fe80::1%eth0", "fe80::1"),
        ("203.0.113.5:", None),
        ("203.0.113.5:http", None),
        ("203.0.113.5:123456", None),
        ("203.0.113.5:\uff18\uff10", None),  # fullwidth digits
        ("203.0.113.5:80x", None),
        ("[2001:db8::1", None),
        ("[2001:db8::1]443", None),
        ("[203.0.113.5]x", None),
        ("203.0.113", None),
        ("256.0.0.1", None),
        ("01.2.3.4", None),
        ("1" * 100, None),
        ("", None),
    ],
)
def test_address_forms(text: str, expected: str | None) -> None:
    address = parse_address(text)
    assert (str(address) if address is not None else None) == expected


@pytest.mark.parametrize(
    ("ip", "mode", "expected"),
    [
        ("203.0.113.57", "full", ("203.0.113.57", "")),
        ("203.0.113.57", "truncate", ("203.0.113.0", "")),
        ("203.0.113.57", "drop", ("", "")),
        ("2001:db8:1:2:3:4:5:6", "full", ("", "2001:db8:1:2:3:4:5:6")),
        ("2001:db8:1:2:3:4:5:6", "truncate", ("", "2001:db8:1::")),
        ("2001:db8:1:2:3:4:5:6", "drop", ("", "")),
        ("::ffff:203.0.113.57", "full", ("203.0.113.57", "")),
        ("::ffff:203.0.113.57", "truncate", ("203.0.113.0", "")),
        ("10.0.0.1", "full", ("10.0.0.1", "")),  # private addresses are stored like any other
        ("", "full", ("", "")),
        ("garbage", "full", ("", "")),
        ("garbage", "truncate", ("", "")),
        ("203.0.113.57", "unknown-mode", ("", "")),  # fail closed
        ("203.0.113.57", "", ("", "")),
    ],
)
def test_ip_privacy_modes(ip: str, mode: str, expected: tuple[str, str]) -> None:
    assert apply_ip_privacy(ip, mode) == expected


@given(ip=st.ip_addresses())
def test_truncation_keeps_at_most_the_network_part(ip: object) -> None:
    text = str(ip)
    v4, v6 = apply_ip_privacy(text, "truncate")
    if v4:
        assert v4.endswith(".0")
        assert v4.rsplit(".", 1)[0] == str(parse_address(text)).rsplit(".", 1)[0]
    else:
        parsed = parse_address(v6)
        assert parsed is not None
        assert int(parsed) & ((1 << 80) - 1) == 0
