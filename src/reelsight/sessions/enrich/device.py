"""Device enrichment: the device metadata a native player reports, completed from the User-Agent as
parsed by ua-parser (uap-core rules), mapped to ``device_info`` and the device dimensions.

The tables below are the whole mapping (``docs/enrichment.md`` shows them): the parser names the
browser, OS and device; the tables turn those names into hardware type, device name and OS family.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import ua_parser

from reelsight.ingest.events import Device
from reelsight.sessions.context import DeviceFields

MOBILE_PHONE = "Mobile Phone"
TABLET = "Tablet"
DESKTOP = "Desktop"
SMART_TV = "Smart TV"
SET_TOP_BOX = "Set-top Box"
GAME_CONSOLE = "Game Console"
UNKNOWN_VERSION = "Unknown"  # os_version of a known OS whose version is not: "iOS Unknown"


@dataclass(frozen=True)
class Platform:
    """What a device is, once recognised: hardware type, manufacturer and device name."""

    hardware_type: str
    manufacturer: str
    name: str


# uap-core OS family -> (device_os, device_os_family). Families not listed keep their name for both.
OS_NAMES: dict[str, tuple[str, str]] = {
    "Other": ("", ""),
    "iOS": ("iOS", "iOS"),
    "ATV OS X": ("tvOS", "tvOS"),
    "Mac OS X": ("macOS", "macOS"),
    "Windows": ("Windows", "Windows"),
    "Windows Phone": ("Windows Phone", "Windows"),
    "Android": ("Android", "Android"),
    "Chrome OS": ("Chrome OS", "Chrome OS"),
    "Chromecast Linux": ("Chromecast", "Linux"),
    "Tizen": ("Tizen", "Tizen"),
    "Web0S": ("webOS", "webOS"),
    "webOS": ("webOS", "webOS"),
    "Roku": ("Roku OS", "Roku OS"),
    "Linux": ("Linux", "Linux"),
    "Ubuntu": ("Ubuntu", "Linux"),
    "Kubuntu": ("Kubuntu", "Linux"),
    "Debian": ("Debian", "Linux"),
    "Fedora": ("Fedora", "Linux"),
    "Red Hat": ("Red Hat", "Linux"),
    "CentOS": ("CentOS", "Linux"),
    "SUSE": ("SUSE", "Linux"),
    "openSUSE": ("openSUSE", "Linux"),
    "Linux Mint": ("Linux Mint", "Linux"),
    "Mint": ("Linux Mint", "Linux"),
    "Arch Linux": ("Arch Linux", "Linux"),
    "Gentoo": ("Gentoo", "Linux"),
}

# device_os -> device_os_family for OS names a native player reports without a family.
OS_FAMILIES: dict[str, str] = {
    **{os: family for os, family in OS_NAMES.values() if os},
    "iPadOS": "iOS",
    "watchOS": "watchOS",
    "Fire OS": "Android",
    "Android TV": "Android",
    "Google TV": "Android",
    "Mac OS X": "macOS",
}

# Recognised by the OS alone (uap-core names these OS families, not the device).
PLATFORM_BY_OS: dict[str, Platform] = {
    "Tizen": Platform(SMART_TV, "Samsung", "Samsung Smart TV"),
    "Web0S": Platform(SMART_TV, "LG", "LG Smart TV"),
    "Roku": Platform(SET_TOP_BOX, "Roku", "Roku"),
    "Chromecast Linux": Platform(SET_TOP_BOX, "Google", "Google Chromecast"),
    "ATV OS X": Platform(SET_TOP_BOX, "Apple", "Apple TV"),
    "Windows Phone": Platform(MOBILE_PHONE, "", "Windows Phone"),
    "Windows": Platform(DESKTOP, "", "Windows PC"),
    "Chrome OS": Platform(DESKTOP, "", "Chromebook"),
    "Mac OS X": Platform(DESKTOP, "Apple", "Apple Mac"),
}

# Recognised by the device family uap-core reports (prefix match, first match wins).
PLATFORM_BY_DEVICE: tuple[tuple[str, Platform], ...] = (
    ("iPhone", Platform(MOBILE_PHONE, "Apple", "Apple iPhone")),
    ("iPod", Platform(MOBILE_PHONE, "Apple", "Apple iPod")),
    ("iPad", Platform(TABLET, "Apple", "Apple iPad")),
    ("Mac", Platform(DESKTOP, "Apple", "Apple Mac")),
    ("AppleTV", Platform(SET_TOP_BOX, "Apple", "Apple TV")),
    ("Chromecast", Platform(SET_TOP_BOX, "Google", "Google Chromecast")),
    ("PlayStation", Platform(GAME_CONSOLE, "Sony", "Sony PlayStation")),
    ("Nintendo", Platform(GAME_CONSOLE, "Nintendo", "Nintendo")),
    ("Xbox", Platform(GAME_CONSOLE, "Microsoft", "Microsoft Xbox")),
    ("Kindle", Platform(TABLET, "Amazon", "Amazon Fire Tablet")),
)

# Android devices: Fire TV models are named AFT*. Android browsers send the "Mobile" token on phones
# and not on tablets (uap-core applies that rule only to unbranded devices, as Generic_Android_Tablet;
# HTTP libraries such as Dalvik or okhttp never send it, so it is only read from browser strings).
FIRE_TV_MODEL_PREFIX = "AFT"
BROWSER_PREFIX = "Mozilla/"
MOBILE_MARKER = "Mobile"
FIRE_TV = Platform(SET_TOP_BOX, "Amazon", "Amazon Fire TV")
ANDROID_PHONE = Platform(MOBILE_PHONE, "", "Android Phone")
ANDROID_TABLET = Platform(TABLET, "", "Android Tablet")
LINUX_DESKTOP = Platform(DESKTOP, "", "Linux PC")

# uap-core brands that say nothing about the maker, and models that say nothing about the device.
GENERIC_BRAND_PREFIXES = ("Generic", "Spider")
PLACEHOLDER_MODELS = frozenset({"iOS-Device", "Desktop", "Smartphone", "Tablet", "Feature Phone", "Other"})
BOT_BRAND = "Spider"
NO_PLATFORM = Platform("", "", "")


def _version(*parts: str | None) -> str:
    """``"124.0.6367"`` from the parser's major, minor, patch... (stops at the first missing part)."""
    known: list[str] = []
    for part in parts:
        if not part:
            break
        known.append(part)
    return ".".join(known)


def format_os_version(os: str, version: str) -> str:
    """``device_os_version`` as the reference shows it: the OS name and its version ("iOS 17.4"),
    ``"<os> Unknown"`` when the version is not known, and "" when the OS is not known."""
    version = version.strip()
    if not os:
        return version
    if not version:
        return f"{os} {UNKNOWN_VERSION}"
    if version.casefold().startswith(os.casefold()):
        return version
    return f"{os} {version}"


def marketing_name(manufacturer: str, model: str) -> str:
    """``"Apple iPhone 4S"`` from manufacturer and model; the model alone when it already names the maker."""
    if not model:
        return ""
    if not manufacturer or model.casefold().startswith(manufacturer.casefold()):
        return model
    return f"{manufacturer} {model}"


def _platform(result: ua_parser.Result) -> Platform:
    device = result.device
    os_family = result.os.family if result.os else "Other"
    brand = (device.brand or "") if device else ""
    if brand == BOT_BRAND:
        return NO_PLATFORM
    model = (device.model or "") if device else ""
    if os_family == "Android" and model.startswith(FIRE_TV_MODEL_PREFIX):
        return FIRE_TV
    family = device.family if device else ""
    for prefix, platform in PLATFORM_BY_DEVICE:
        if family.startswith(prefix):
            return platform
    if os_family in PLATFORM_BY_OS:
        return PLATFORM_BY_OS[os_family]
    if os_family == "Android":
        browser_string = result.string.startswith(BROWSER_PREFIX)
        if brand == "Generic_Android_Tablet" or (browser_string and MOBILE_MARKER not in result.string):
            return ANDROID_TABLET
        return ANDROID_PHONE
    if OS_NAMES.get(os_family, ("", ""))[1] == "Linux":
        return LINUX_DESKTOP
    return NO_PLATFORM


def fields_from_user_agent(result: ua_parser.Result) -> DeviceFields:
    """The device fields one parsed User-Agent gives (all "" for an empty or unrecognised one)."""
    platform = _platform(result)
    device = result.device
    brand = (device.brand or "") if device else ""
    manufacturer = platform.manufacturer or ("" if brand.startswith(GENERIC_BRAND_PREFIXES) else brand)
    model = (device.model or "") if device else ""
    if model in PLACEHOLDER_MODELS:
        model = ""
    os = result.os
    os_name, os_family = OS_NAMES.get(os.family, (os.family, os.family)) if os else ("", "")
    os_version = _version(os.major, os.minor, os.patch, os.patch_minor) if os else ""
    browser = result.user_agent
    browser_name = "" if browser is None or browser.family == "Other" else browser.family
    return DeviceFields(
        hardware_type=platform.hardware_type,
        manufacturer=manufacturer,
        model=model,
        marketing_name=marketing_name(manufacturer, model),
        name=platform.name,
        os=os_name,
        os_family=os_family,
        os_version=format_os_version(os_name, os_version),
        browser_name=browser_name,
        browser_version=_version(browser.major, browser.minor, browser.patch, browser.patch_minor)
        if browser and browser_name
        else "",
    )


def merge(native: Device, parsed: DeviceFields) -> DeviceFields:
    """The reported metadata, completed from the User-Agent field by field.

    A field the player reported wins. Fields that depend on another take the User-Agent's value only
    when that other field came from it too: OS family and version follow the OS, the marketing name
    follows manufacturer and model. A player that reports any device metadata is a native app: its
    browser is what it reported (usually "", served as "Native App"), since its User-Agent is its
    HTTP library's, not a browser's.
    """
    native_app = any(getattr(native, name) for name in Device.__struct_fields__)
    os = native.os or parsed.os
    same_os = os == parsed.os
    os_family = native.os_family or (parsed.os_family if same_os else OS_FAMILIES.get(os, os))
    reported_version = native.os_version or (parsed.os_version if same_os else "")
    manufacturer = native.manufacturer or parsed.manufacturer
    model = native.model or parsed.model
    if native.marketing_name or native.manufacturer or native.model:
        marketing = native.marketing_name or marketing_name(manufacturer, model)
    else:
        marketing = parsed.marketing_name
    return DeviceFields(
        hardware_type=native.hardware_type or parsed.hardware_type,
        manufacturer=manufacturer,
        model=model,
        marketing_name=marketing,
        name=native.name or parsed.name,
        os=os,
        os_family=os_family,
        os_version=format_os_version(os, reported_version),
        browser_name=native.browser_name if native_app else parsed.browser_name,
        browser_version=native.browser_version if native_app else parsed.browser_version,
    )


@functools.cache
def _shared_parser() -> ua_parser.Parser:
    """ua-parser with its fastest resolver: the Rust one when ``ua-parser-rs`` is installed. Built on
    first use (loading the rules takes ~0.2 s) and shared: a parser is immutable and thread-safe."""
    if ua_parser.RegexResolver is not None:
        return ua_parser.Parser(ua_parser.RegexResolver(ua_parser.load_lazy_builtins()))
    return ua_parser.Parser(ua_parser.BasicResolver(ua_parser.load_builtins()))


class UserAgentParser:
    """User-Agent -> :class:`DeviceFields`, with an LRU cache keyed on the whole string (players of
    one app and version send identical strings, so most new sessions are cache hits)."""

    def __init__(self, cache_size: int = 10_000) -> None:
        self._parser = _shared_parser()
        self.backend = "ua-parser-rs" if ua_parser.RegexResolver is not None else "ua-parser (pure Python)"
        self.fields = functools.lru_cache(maxsize=cache_size)(self._fields)

    def _fields(self, user_agent: str) -> DeviceFields:
        if not user_agent.strip():
            return DeviceFields()
        return fields_from_user_agent(self._parser.parse(user_agent))

    def device_fields(self, native: Device, user_agent: str) -> DeviceFields:
        """The session's device fields: ``native`` completed from ``user_agent``."""
        return merge(native, self.fields(user_agent))
