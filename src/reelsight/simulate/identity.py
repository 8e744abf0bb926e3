"""Who plays: one device per simulated player, drawn from the generator's population, and what its
sessions report about it (native device metadata or a browser User-Agent, viewer id, content, tags).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import secrets
from dataclasses import dataclass

import msgspec

from reelsight.generate.catalogue import AD_BREAKS, NATIVE_APP, PREROLL_CHANCE, AdBreak, Asset, assets
from reelsight.generate.population import Client, Population, Weighted
from reelsight.ingest.events import AdInfo, AdPosition, AdStart, Content, Device

# Standard dimensions a player reports about itself (the device ones the server derives).
_PLAYER_KEYS = ("app_version", "player_framework_name", "player_framework_version", "player_name")
_WINDOWS = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"


@dataclass(frozen=True)
class Viewer:
    """A player's device, fixed across its sessions."""

    client: Client
    device: Device  # what a native app reports; empty for a browser player
    user_agent: str  # a browser player's User-Agent; "" for native apps
    reports_client_id: bool  # False: the first session omits it and adopts the collector's
    actual_device: Device  # what the device is (for a browser player: what its User-Agent says)
    address: str = ""  # the player's public IPv4 address, sent as X-Forwarded-For

    @property
    def is_native(self) -> bool:
        return not self.user_agent


def browser_user_agent(browser: str, version: str) -> str:
    """A current desktop browser's User-Agent string (the server parses it for device_info)."""
    major = version.split(".")[0]
    if browser == "Chrome":
        return f"Mozilla/5.0 ({_WINDOWS}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} Safari/537.36"
    if browser == "Edge":
        return (
            f"Mozilla/5.0 ({_WINDOWS}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 "
            f"Safari/537.36 Edg/{version}"
        )
    if browser == "Firefox":
        return f"Mozilla/5.0 ({_WINDOWS}; rv:{version}) Gecko/20100101 Firefox/{version}"
    if browser == "Safari":
        return f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{version} Safari/605.1.15"
    raise ValueError(f"no User-Agent template for browser {browser!r}")


def reported_os_version(os: str, version: str) -> str:
    """The OS version as a native app reports it: "<os> <version>" ("PlayStation OS 24.03")."""
    if version.startswith(os):
        return version
    return f"{os} {version.rsplit(' ', 1)[-1]}"


def public_address(rng: random.Random) -> str:
    """A random globally routable IPv4 address: a player somewhere on the Internet (GeoIP places it)."""
    while True:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast:
            return str(address)


def _viewer(client: Client, reports_client_id: bool) -> Viewer:
    profile = client.device.profile
    dims = client.device.dimensions
    device = Device(
        hardware_type=profile.hardware_type,
        manufacturer=dims["device_manufacturer"],
        model=dims["device_model"],
        marketing_name=dims["device_marketing_name"],
        name=profile.name,
        os=profile.os,
        os_family=profile.os_family,
        os_version=reported_os_version(profile.os, client.device.os_version),
    )
    if profile.browser == NATIVE_APP:
        return Viewer(client, device, "", reports_client_id, device)
    version = client.device.browser_version
    actual = msgspec.structs.replace(device, browser_name=profile.browser, browser_version=version)
    return Viewer(client, Device(), browser_user_agent(profile.browser, version), reports_client_id, actual)


def new_client_id() -> str:
    return ".".join(str(secrets.randbits(32)) for _ in range(4))


def new_viewers(rng: random.Random, count: int, *, assigned_share: float) -> tuple[Population, list[Viewer]]:
    """``count`` players on distinct devices; ``assigned_share`` of them start without a client id.

    Devices follow ``rng``; client ids are fresh in every run (a seed replayed against the same
    server must not reuse the ids of sessions that already ended there).
    """
    population = Population(rng, max(1000, count * 100))
    seen: set[int] = set()
    viewers: list[Viewer] = []
    while len(viewers) < count:
        client = population.draw()
        if id(client) in seen:
            continue
        seen.add(id(client))
        client.client_id = new_client_id()
        viewer = _viewer(client, reports_client_id=rng.random() >= assigned_share)
        viewers.append(dataclasses.replace(viewer, address=public_address(rng)))
    return population, viewers


_ASSETS = Weighted((a, a.weight) for a in assets())
_VOD = Weighted((a, a.weight) for a in assets() if not a.is_live)


def choose_asset(rng: random.Random, *, on_demand: bool) -> Asset:
    return (_VOD if on_demand else _ASSETS).pick(rng)


def content_of(viewer: Viewer, asset: Asset) -> Content:
    profile = viewer.client.device.profile
    url = asset.hls_url if profile.stream_format == "hls" else asset.dash_url
    return Content(asset=asset.name, stream_url=url, is_live=asset.is_live, length_ms=asset.length_ms)


def choose_preroll(rng: random.Random, viewer: Viewer, asset: Asset) -> AdBreak | None:
    chance = PREROLL_CHANCE[viewer.client.tier] * (0.5 if asset.is_live else 1.0)
    if chance and rng.random() < chance:
        return AD_BREAKS[rng.randrange(len(AD_BREAKS))]
    return None


def standard_metadata(viewer: Viewer, asset: Asset) -> dict[str, str]:
    """Metadata keys that are standard dimensions (player, content); device ones are derived. The
    ad dimensions belong to the ad sessions (:func:`ad_start`), not to the content session."""
    dims = viewer.client.dimensions
    metadata = {key: dims[key] for key in _PLAYER_KEYS}
    metadata |= {
        "content_meta_channel": asset.channel,
        "content_meta_show_title": asset.show_title,
        "video_asset_name": asset.name,
    }
    return metadata


def ad_start(viewer: Viewer, ad: AdBreak, ad_ms: int, position: AdPosition) -> AdStart:
    """The start of the ad session of ``ad`` (one ad per break here); its ids, ``seq``, ``t_ms`` and
    ``content_session_id`` are filled when it is sent."""
    dims = viewer.client.dimensions
    return AdStart(
        session_id="",
        seq=0,
        t_ms=0,
        content=Content(asset=f"{ad.system} {ad.ad_id}", stream_url=f"https://ads.example.com/{ad.creative_id}.mp4"),
        device=viewer.device,
        user_agent=viewer.user_agent,
        viewer_id=viewer.client.viewer_id,
        metadata={key: dims[key] for key in _PLAYER_KEYS},
        ad=AdInfo(
            ad_id=ad.ad_id,
            creative_id=ad.creative_id,
            system=ad.system,
            technology=ad.technology,
            position=position,
            sequence=1,
            planned_duration_ms=ad_ms,
            api_framework=ad.api_framework,
        ),
    )


def custom_tags(rng: random.Random, viewer: Viewer, ad: AdBreak | None, scenario: str) -> dict[str, str]:
    client = viewer.client
    tags = {
        "subscription_tier": client.tier,
        "experiment": client.experiment,
        "app_build": client.app_build,
        "has_preroll": "true" if ad is not None else "false",
        "sim_scenario": scenario,
    }
    if client.connection_type:
        tags["connection_type"] = client.connection_type
    if rng.random() < 0.5:
        tags["autoplay"] = "true" if rng.random() < 0.3 else "false"
    if rng.random() < 0.7:
        tags["drm"] = client.device.profile.drm
    return tags
