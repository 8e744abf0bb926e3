"""Generated viewers: several sessions over several days, one to three devices per household, a home
address that stays mostly the same, so a viewer lookup by id or by address finds one viewer's history."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter, defaultdict

import pytest

from reelsight.generate.catalogue import ISPS
from reelsight.generate.population import Population
from reelsight.generate.sessions import generate_sessions
from reelsight.sessions.document import SessionDocument

END_MS = 1_700_000_000_000
DAY_MS = 86_400_000
MOBILE_ISPS = {isp.name for isp in ISPS if isp.is_mobile}


@pytest.fixture(scope="module")
def content() -> list[SessionDocument]:
    docs = generate_sessions(30_000, seed=8, end_ms=END_MS)
    return [d for d in docs if not d.tags.selected_dimensions.content_session_id]


def _by(docs: list[SessionDocument], key: str) -> dict[str, list[SessionDocument]]:
    groups: dict[str, list[SessionDocument]] = defaultdict(list)
    for doc in docs:
        groups[doc.viewer_id if key == "viewer" else doc.network_info.ip].append(doc)
    return groups


def test_most_viewers_have_several_sessions_on_several_days(content: list[SessionDocument]) -> None:
    viewers = _by(content, "viewer")
    counts = sorted(len(v) for v in viewers.values())
    assert sum(c >= 2 for c in counts) > 0.6 * len(counts)
    assert sum(c >= 5 for c in counts) > 0.2 * len(counts)
    assert counts[-1] >= 30  # a heavy tail: a few viewers watch a lot
    assert counts[len(counts) // 2] < 10  # ... most do not
    repeat = [v for v in viewers.values() if len(v) >= 5]
    days = [len({d.timestamps.end.epoch_ms // DAY_MS for d in v}) for v in repeat]
    assert sum(days) / len(days) >= 3


def test_a_viewer_uses_one_to_three_devices_mostly_the_same(content: list[SessionDocument]) -> None:
    viewers = _by(content, "viewer")
    devices = {viewer: Counter(d.client_id for d in docs) for viewer, docs in viewers.items()}
    assert max(len(c) for c in devices.values()) == 3
    several = [c for c in devices.values() if len(c) > 1]
    assert 0.1 * len(devices) < len(several) < 0.5 * len(devices)
    repeat = [(viewer, c) for viewer, c in devices.items() if sum(c.values()) >= 5]
    main_share = sum(c.most_common(1)[0][1] / sum(c.values()) for _, c in repeat) / len(repeat)
    assert main_share > 0.75
    for viewer, _ in repeat:
        docs = viewers[viewer]
        assert len({d.geo_info.city for d in docs}) == 1  # one household, one home
        assert len({d.tags.custom_tags["subscription_tier"] for d in docs}) == 1


def test_a_home_address_stays_mostly_the_same_and_belongs_to_one_household(content: list[SessionDocument]) -> None:
    assert all(ipaddress.ip_address(d.network_info.ip) in ipaddress.ip_network("100.64.0.0/10") for d in content)
    at_home = [d for d in content if d.network_info.isp not in MOBILE_ISPS]
    by_client: dict[str, list[SessionDocument]] = defaultdict(list)
    for doc in at_home:
        by_client[doc.client_id].append(doc)
    repeat = [docs for docs in by_client.values() if len(docs) >= 5]
    addresses = [Counter(d.network_info.ip for d in docs) for docs in repeat]
    main_share = sum(a.most_common(1)[0][1] / sum(a.values()) for a in addresses) / len(addresses)
    assert main_share > 0.75
    assert any(len(a) > 1 for a in addresses)  # leases end: some homes got a new address in the month
    # A lookup by a home address finds one household, now and then two.
    households = [len({d.viewer_id for d in docs}) for docs in _by(at_home, "ip").values()]
    assert sum(households) / len(households) < 1.1
    # The devices of a household at home share its address: on one day, almost always one address.
    per_day: dict[tuple[str, int], set[str]] = defaultdict(set)
    devices: dict[tuple[str, int], set[str]] = defaultdict(set)
    for doc in at_home:
        key = (doc.viewer_id, doc.timestamps.start.epoch_ms // DAY_MS)
        per_day[key].add(doc.network_info.ip)
        devices[key].add(doc.client_id)
    shared = [per_day[k] for k in per_day if len(devices[k]) > 1]
    assert shared
    assert sum(len(a) == 1 for a in shared) > 0.9 * len(shared)


def test_cellular_addresses_change_every_few_hours(content: list[SessionDocument]) -> None:
    cellular = [d for d in content if d.network_info.isp in MOBILE_ISPS]
    assert cellular
    by_client: dict[str, list[SessionDocument]] = defaultdict(list)
    for doc in cellular:
        by_client[doc.client_id].append(doc)
    repeat = [docs for docs in by_client.values() if len(docs) >= 5]
    assert sum(len({d.network_info.ip for d in docs}) / len(docs) for docs in repeat) / len(repeat) > 0.8


def test_a_household_holds_one_to_three_devices_with_its_viewer_and_home() -> None:
    population = Population(random.Random(3), 3000)
    clients = [population.draw() for _ in range(3000)]
    by_viewer: dict[str, set[str]] = defaultdict(set)
    for client in clients:
        by_viewer[client.viewer_id].add(client.client_id)
        assert client.household.viewer_id == client.viewer_id
        assert client.where == client.household.where
    assert max(len(c) for c in by_viewer.values()) <= 3
    assert len({c.household.number for c in clients}) == len(by_viewer)
