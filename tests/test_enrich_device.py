"""Device enrichment: real User-Agent strings through the real parser, and native metadata winning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from reelsight.ingest.events import Device
from reelsight.sessions.context import DeviceFields
from reelsight.sessions.enrich import Enricher
from reelsight.sessions.enrich.device import OS_NAMES, UserAgentParser, format_os_version, marketing_name

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; Pixel Tablet) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
TIZEN_TV = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36"
)
WEBOS_TV = (
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.79 Safari/537.36 WebAppManager"
)
ROKU = "Roku/DVP-9.10 (519.10E04111A)"
FIRE_TV = (
    "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/70.0.3538.110 Mobile Safari/537.36"
)
PLAYSTATION = "Mozilla/5.0 (PlayStation 4 5.55) AppleWebKit/601.2 (KHTML, like Gecko)"
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DALVIK = "Dalvik/2.1.0 (Linux; U; Android 11; SM-G991B Build/RP1A.200720.012)"
APPLE_CORE_MEDIA = "AppleCoreMedia/1.0.0.20G75 (iPhone; U; CPU OS 16_6 like Mac OS X; en_us)"

# User-Agent -> the fields it must give (every field, so a change of mapping shows here).
EXPECTED: dict[str, DeviceFields] = {
    IPHONE_SAFARI: DeviceFields(
        hardware_type="Mobile Phone",
        manufacturer="Apple",
        model="iPhone",
        marketing_name="Apple iPhone",
        name="Apple iPhone",
        os="iOS",
        os_family="iOS",
        os_version="iOS 17.4",
        browser_name="Mobile Safari",
        browser_version="17.4",
    ),
    ANDROID_CHROME: DeviceFields(
        hardware_type="Mobile Phone",
        manufacturer="Samsung",
        model="SM-S918B",
        marketing_name="Samsung SM-S918B",
        name="Android Phone",
        os="Android",
        os_family="Android",
        os_version="Android 14",
        browser_name="Chrome Mobile",
        browser_version="124.0.6367.82",
    ),
    ANDROID_TABLET: DeviceFields(
        hardware_type="Tablet",
        manufacturer="Google",
        model="Pixel Tablet",
        marketing_name="Google Pixel Tablet",
        name="Android Tablet",
        os="Android",
        os_family="Android",
        os_version="Android 14",
        browser_name="Chrome",
        browser_version="124.0.0.0",
    ),
    IPAD: DeviceFields(
        hardware_type="Tablet",
        manufacturer="Apple",
        model="iPad",
        marketing_name="Apple iPad",
        name="Apple iPad",
        os="iOS",
        os_family="iOS",
        os_version="iOS 16.6",
        browser_name="Mobile Safari",
        browser_version="16.6",
    ),
    WINDOWS_CHROME: DeviceFields(
        hardware_type="Desktop",
        name="Windows PC",
        os="Windows",
        os_family="Windows",
        os_version="Windows 10",
        browser_name="Chrome",
        browser_version="124.0.0.0",
    ),
    MAC_SAFARI: DeviceFields(
        hardware_type="Desktop",
        manufacturer="Apple",
        model="Mac",
        marketing_name="Apple Mac",
        name="Apple Mac",
        os="macOS",
        os_family="macOS",
        os_version="macOS 10.15.7",
        browser_name="Safari",
        browser_version="17.4",
    ),
    LINUX_FIREFOX: DeviceFields(
        hardware_type="Desktop",
        name="Linux PC",
        os="Ubuntu",
        os_family="Linux",
        os_version="Ubuntu Unknown",
        browser_name="Firefox",
        browser_version="125.0",
    ),
    TIZEN_TV: DeviceFields(
        hardware_type="Smart TV",
        manufacturer="Samsung",
        model="SMART-TV",
        marketing_name="Samsung SMART-TV",
        name="Samsung Smart TV",
        os="Tizen",
        os_family="Tizen",
        os_version="Tizen 6.0",
        browser_name="Safari",
    ),
    WEBOS_TV: DeviceFields(
        hardware_type="Smart TV",
        manufacturer="LG",
        model="Web0S SmartTV",
        marketing_name="LG Web0S SmartTV",
        name="LG Smart TV",
        os="webOS",
        os_family="webOS",
        os_version="webOS Unknown",
        browser_name="Chrome",
        browser_version="79.0.3945.79",
    ),
    ROKU: DeviceFields(
        hardware_type="Set-top Box",
        manufacturer="Roku",
        model="Roku",
        marketing_name="Roku",
        name="Roku",
        os="Roku OS",
        os_family="Roku OS",
        os_version="Roku OS 9.10",
        browser_name="Roku",
        browser_version="9.10",
    ),
    FIRE_TV: DeviceFields(
        hardware_type="Set-top Box",
        manufacturer="Amazon",
        model="AFTMM",
        marketing_name="Amazon AFTMM",
        name="Amazon Fire TV",
        os="Android",
        os_family="Android",
        os_version="Android 9",
        browser_name="Chrome Mobile WebView",
        browser_version="70.0.3538.110",
    ),
    PLAYSTATION: DeviceFields(
        hardware_type="Game Console",
        manufacturer="Sony",
        model="PlayStation 4",
        marketing_name="Sony PlayStation 4",
        name="Sony PlayStation",
    ),
    CHROMEBOOK: DeviceFields(
        hardware_type="Desktop",
        name="Chromebook",
        os="Chrome OS",
        os_family="Chrome OS",
        os_version="Chrome OS 14541.0.0",
        browser_name="Chrome",
        browser_version="124.0.0.0",
    ),
    # A crawler: its name is kept, but it is no device.
    GOOGLEBOT: DeviceFields(browser_name="Googlebot", browser_version="2.1"),
    # An Android HTTP library sends no "Mobile" token: that does not make the phone a tablet.
    DALVIK: DeviceFields(
        hardware_type="Mobile Phone",
        manufacturer="Samsung",
        model="SM-G991B",
        marketing_name="Samsung SM-G991B",
        name="Android Phone",
        os="Android",
        os_family="Android",
        os_version="Android 11",
        browser_name="Android",
        browser_version="11",
    ),
}


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser()


@pytest.fixture(scope="module")
def enricher() -> Iterator[Enricher]:
    with Enricher("", "") as enricher:
        yield enricher


@pytest.mark.parametrize("user_agent", list(EXPECTED), ids=lambda ua: ua[:40])
def test_user_agents_map_to_device_fields(parser: UserAgentParser, user_agent: str) -> None:
    assert parser.device_fields(Device(), user_agent) == EXPECTED[user_agent]


@pytest.mark.parametrize("user_agent", ["", "   ", "garbage ###", "\x00\x01\xff", "Mozilla/5.0", "x" * 5000])
def test_empty_or_unrecognised_user_agents_give_empty_fields(parser: UserAgentParser, user_agent: str) -> None:
    assert parser.device_fields(Device(), user_agent) == DeviceFields()


def test_the_reference_native_iphone(enricher: Enricher) -> None:
    """The reference example: an iOS app reporting its device, no browser, no OS version."""
    device = Device(
        hardware_type="Mobile Phone", manufacturer="Apple", model="iPhone 4S", name="Apple iPhone", os="iOS"
    )
    fields = enricher.enrich(device=device, user_agent="", ip="", ip_privacy="full").device
    assert fields == DeviceFields(
        hardware_type="Mobile Phone",
        manufacturer="Apple",
        model="iPhone 4S",
        marketing_name="Apple iPhone 4S",
        name="Apple iPhone",
        os="iOS",
        os_family="iOS",
        os_version="iOS Unknown",
        browser_name="",  # the summarizer serves it as "Native App"
        browser_version="",
    )


def test_native_metadata_wins_and_the_user_agent_fills_the_rest(parser: UserAgentParser) -> None:
    device = Device(model="iPhone 15 Pro", marketing_name="Apple iPhone 15 Pro", hardware_type="Phone")
    fields = parser.device_fields(device, APPLE_CORE_MEDIA)
    assert fields.hardware_type == "Phone"
    assert fields.model == "iPhone 15 Pro"
    assert fields.marketing_name == "Apple iPhone 15 Pro"
    assert (fields.manufacturer, fields.name) == ("Apple", "Apple iPhone")  # from the User-Agent
    assert (fields.os, fields.os_family, fields.os_version) == ("iOS", "iOS", "iOS 16.6")
    # A native app: its User-Agent is its media stack's, not a browser.
    assert (fields.browser_name, fields.browser_version) == ("", "")


def test_a_reported_os_takes_no_version_or_family_from_a_different_user_agent_os(parser: UserAgentParser) -> None:
    fields = parser.device_fields(Device(os="tvOS"), APPLE_CORE_MEDIA)
    assert (fields.os, fields.os_family, fields.os_version) == ("tvOS", "tvOS", "tvOS Unknown")
    fields = parser.device_fields(Device(os="Fire OS", os_version="7.6.2.1"), ANDROID_CHROME)
    assert (fields.os, fields.os_family, fields.os_version) == ("Fire OS", "Android", "Fire OS 7.6.2.1")


def test_a_reported_manufacturer_and_model_make_the_marketing_name(parser: UserAgentParser) -> None:
    fields = parser.device_fields(Device(manufacturer="Samsung", model="Galaxy S23 Ultra"), ANDROID_CHROME)
    assert fields.marketing_name == "Samsung Galaxy S23 Ultra"
    assert fields.hardware_type == "Mobile Phone"


def test_a_native_player_reporting_its_browser_keeps_it(parser: UserAgentParser) -> None:
    device = Device(os="Android", browser_name="ExoPlayer", browser_version="2.19.1")
    fields = parser.device_fields(device, ANDROID_CHROME)
    assert (fields.browser_name, fields.browser_version) == ("ExoPlayer", "2.19.1")


def test_a_browser_player_without_metadata_takes_everything_from_the_user_agent(parser: UserAgentParser) -> None:
    assert parser.device_fields(Device(), IPHONE_SAFARI) == EXPECTED[IPHONE_SAFARI]


@pytest.mark.parametrize(
    ("os", "version", "expected"),
    [
        ("iOS", "", "iOS Unknown"),
        ("iOS", "17.4", "iOS 17.4"),
        ("iOS", "iOS 17.4", "iOS 17.4"),
        ("Android", " 14 ", "Android 14"),
        ("", "", ""),
        ("", "14", "14"),
    ],
)
def test_os_version_format(os: str, version: str, expected: str) -> None:
    assert format_os_version(os, version) == expected


@pytest.mark.parametrize(
    ("manufacturer", "model", "expected"),
    [("Apple", "iPhone 4S", "Apple iPhone 4S"), ("Roku", "Roku Ultra", "Roku Ultra"), ("", "K", "K"), ("LG", "", "")],
)
def test_marketing_name(manufacturer: str, model: str, expected: str) -> None:
    assert marketing_name(manufacturer, model) == expected


def test_parsed_user_agents_are_cached() -> None:
    parser = UserAgentParser(cache_size=2)
    first = parser.device_fields(Device(), WINDOWS_CHROME)
    assert parser.device_fields(Device(), WINDOWS_CHROME) == first
    info = parser.fields.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 1, 2)


def test_enrichment_round_trips_through_its_stored_form(enricher: Enricher) -> None:
    """The enrichment is persisted with the live session (msgspec JSON) and must decode the same."""
    enrichment = enricher.enrich(device=Device(), user_agent=ANDROID_CHROME, ip="73.44.1.1", ip_privacy="full")
    encoded = msgspec.json.encode(enrichment)
    assert msgspec.json.decode(encoded, type=type(enrichment)) == enrichment


def test_the_docs_list_every_os_mapping() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "enrichment.md").read_text()
    for family, (os, os_family) in OS_NAMES.items():
        if family != "Other":
            assert f"| `{family}` | {os} | {os_family} |" in docs
