"""The tables the session generator draws from: devices, places, ISPs, CDNs, content and messages.

Plain weighted data, plausible rather than measured; ``sessions.py`` turns it into documents.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

NATIVE_APP = "Native App"

# Bitrate ladders (bps), lowest rung first.
PHONE_LADDER_BPS = (400_000, 800_000, 1_200_000, 2_000_000, 3_000_000, 4_500_000)
TABLET_LADDER_BPS = (600_000, 1_200_000, 2_000_000, 3_000_000, 4_500_000, 6_000_000)
TV_LADDER_BPS = (1_200_000, 2_500_000, 3_500_000, 4_500_000, 6_000_000, 8_000_000)
DESKTOP_LADDER_BPS = (800_000, 1_500_000, 2_500_000, 3_500_000, 5_000_000, 6_500_000)


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """One kind of device and player; a viewer's device picks one entry from each choice list."""

    weight: float
    name: str
    os: str
    os_family: str
    os_versions: tuple[tuple[str, float], ...]
    hardware_type: str
    models: tuple[tuple[str, str, str, float], ...]  # (manufacturer, model, marketing name, weight)
    browser: str  # NATIVE_APP for native apps, else the browser's name
    browser_versions: tuple[tuple[str, float], ...]
    player_name: str
    frameworks: tuple[tuple[str, str, float], ...]  # (framework name, version, weight)
    app_prefix: str  # app_version is this prefix + the app release
    ladder_bps: tuple[int, ...]
    max_fps: int
    startup_factor: float  # multiplies the median video start time
    is_mobile: bool
    stream_format: str  # "hls" or "dash"
    drm: str


_NATIVE = ((NATIVE_APP, 1.0),)

DEVICES: tuple[DeviceProfile, ...] = (
    DeviceProfile(
        20, "Apple iPhone", "iOS", "iOS",
        (("iOS 17.5", 40), ("iOS 17.4", 20), ("iOS 16.7", 15), ("iOS 18.0", 15), ("iOS Unknown", 10)),
        "Mobile Phone",
        (("Apple", "iPhone15,2", "Apple iPhone 14 Pro", 25), ("Apple", "iPhone14,5", "Apple iPhone 13", 30),
         ("Apple", "iPhone16,1", "Apple iPhone 15 Pro", 20), ("Apple", "iPhone12,1", "Apple iPhone 11", 15),
         ("Apple", "iPhone 4S", "Apple iPhone 4S", 1)),
        NATIVE_APP, _NATIVE, "iOS AVPlayer", (("AVPlayer", "iOS 17", 1.0),), "iOS_",
        PHONE_LADDER_BPS, 60, 1.15, True, "hls", "fairplay",
    ),
    DeviceProfile(
        14, "Android Phone", "Android", "Android",
        (("Android 14", 40), ("Android 13", 30), ("Android 12", 18), ("Android 11", 12)),
        "Mobile Phone",
        (("Samsung", "SM-S911B", "Samsung Galaxy S23", 30), ("Samsung", "SM-A546B", "Samsung Galaxy A54", 25),
         ("Google", "Pixel 8", "Google Pixel 8", 15), ("Motorola", "moto g54 5G", "Motorola Moto G54", 15),
         ("Xiaomi", "23028RN4DG", "Redmi Note 12", 15)),
        NATIVE_APP, _NATIVE, "ExoPlayer",
        (("ExoPlayer", "2.19.1", 40), ("AndroidX Media3", "1.3.1", 60)), "Android_",
        PHONE_LADDER_BPS, 60, 1.35, True, "dash", "widevine",
    ),
    DeviceProfile(
        12, "Roku", "Roku OS", "Roku",
        (("Roku OS 12.5", 50), ("Roku OS 12.0", 30), ("Roku OS 11.5", 20)),
        "Streaming Stick",
        (("Roku", "3820X", "Roku Streaming Stick 4K", 45), ("Roku", "4850X", "Roku Ultra", 30),
         ("Roku", "3960X", "Roku Express", 25)),
        NATIVE_APP, _NATIVE, "Roku Video Node", (("Roku SceneGraph", "1.3", 1.0),), "Roku_",
        TV_LADDER_BPS, 60, 1.1, False, "dash", "playready",
    ),
    DeviceProfile(
        6, "Apple TV", "tvOS", "tvOS",
        (("tvOS 17.5", 55), ("tvOS 17.4", 25), ("tvOS 16.6", 20)),
        "Set-top Box",
        (("Apple", "AppleTV14,1", "Apple TV 4K (3rd generation)", 60),
         ("Apple", "AppleTV11,1", "Apple TV 4K (2nd generation)", 40)),
        NATIVE_APP, _NATIVE, "tvOS AVPlayer", (("AVPlayer", "tvOS 17", 1.0),), "tvOS_",
        TV_LADDER_BPS, 60, 0.85, False, "hls", "fairplay",
    ),
    DeviceProfile(
        7, "Samsung Smart TV", "Tizen", "Tizen",
        (("Tizen 7.0", 40), ("Tizen 6.5", 35), ("Tizen 5.5", 25)),
        "Smart TV",
        (("Samsung", "QN65Q80C", "Samsung QLED Q80C 65", 40), ("Samsung", "UN55TU7000", "Samsung Crystal UHD 55", 60)),
        NATIVE_APP, _NATIVE, "Tizen AVPlay", (("Tizen AVPlay", "7.0", 1.0),), "Tizen_",
        TV_LADDER_BPS, 60, 1.25, False, "dash", "playready",
    ),
    DeviceProfile(
        6, "Amazon Fire TV", "Fire OS", "Android",
        (("Fire OS 7.6", 60), ("Fire OS 6.2", 25), ("Fire OS 8.1", 15)),
        "Streaming Stick",
        (("Amazon", "AFTKA", "Fire TV Stick 4K Max", 45), ("Amazon", "AFTSSS", "Fire TV Stick (3rd Gen)", 55)),
        NATIVE_APP, _NATIVE, "ExoPlayer", (("ExoPlayer", "2.18.7", 1.0),), "FireTV_",
        TV_LADDER_BPS, 60, 1.2, False, "dash", "widevine",
    ),
    DeviceProfile(
        10, "Windows PC", "Windows", "Windows",
        (("Windows 10", 1.0),),
        "Desktop",
        (("", "", "", 1.0),),
        "Chrome", (("124.0.0.0", 35), ("125.0.0.0", 40), ("123.0.0.0", 15), ("109.0.0.0", 10)),
        "Shaka Player", (("Shaka Player", "4.7.11", 70), ("Shaka Player", "4.3.6", 30)), "Web_",
        DESKTOP_LADDER_BPS, 60, 0.9, False, "dash", "widevine",
    ),
    DeviceProfile(
        3, "Windows PC", "Windows", "Windows",
        (("Windows 10", 1.0),),
        "Desktop",
        (("", "", "", 1.0),),
        "Edge", (("124.0.2478.80", 60), ("125.0.2535.51", 40)),
        "Shaka Player", (("Shaka Player", "4.7.11", 1.0),), "Web_",
        DESKTOP_LADDER_BPS, 60, 0.9, False, "dash", "playready",
    ),
    DeviceProfile(
        2, "Windows PC", "Windows", "Windows",
        (("Windows 10", 1.0),),
        "Desktop",
        (("", "", "", 1.0),),
        "Firefox", (("126.0", 60), ("115.0", 40)),
        "hls.js", (("hls.js", "1.5.8", 1.0),), "Web_",
        DESKTOP_LADDER_BPS, 60, 1.0, False, "hls", "widevine",
    ),
    DeviceProfile(
        4, "Apple Mac", "macOS", "macOS",
        (("macOS 10.15.7", 1.0),),
        "Desktop",
        (("Apple", "Macintosh", "Apple Mac", 1.0),),
        "Safari", (("17.4.1", 55), ("17.5", 30), ("16.6", 15)),
        "Safari HTML5", (("Video.js", "8.10.0", 1.0),), "Web_",
        DESKTOP_LADDER_BPS, 60, 0.9, False, "hls", "fairplay",
    ),
    DeviceProfile(
        5, "Apple iPad", "iPadOS", "iOS",
        (("iPadOS 17.5", 50), ("iPadOS 17.4", 25), ("iPadOS 16.7", 25)),
        "Tablet",
        (("Apple", "iPad13,18", "Apple iPad (10th generation)", 55), ("Apple", "iPad14,3", "Apple iPad Pro 11", 45)),
        NATIVE_APP, _NATIVE, "iOS AVPlayer", (("AVPlayer", "iOS 17", 1.0),), "iOS_",
        TABLET_LADDER_BPS, 60, 1.05, True, "hls", "fairplay",
    ),
    DeviceProfile(
        2, "Android Tablet", "Android", "Android",
        (("Android 14", 40), ("Android 13", 60)),
        "Tablet",
        (("Samsung", "SM-X200", "Samsung Galaxy Tab A8", 60), ("Lenovo", "TB328FU", "Lenovo Tab M10", 40)),
        NATIVE_APP, _NATIVE, "ExoPlayer", (("AndroidX Media3", "1.3.1", 1.0),), "Android_",
        TABLET_LADDER_BPS, 60, 1.3, True, "dash", "widevine",
    ),
    DeviceProfile(
        3, "Google TV", "Android TV", "Android",
        (("Android TV 12", 60), ("Android TV 11", 40)),
        "Streaming Stick",
        (("Google", "Chromecast HD", "Chromecast with Google TV (HD)", 50),
         ("Google", "Chromecast", "Chromecast with Google TV (4K)", 50)),
        NATIVE_APP, _NATIVE, "ExoPlayer", (("AndroidX Media3", "1.2.1", 1.0),), "AndroidTV_",
        TV_LADDER_BPS, 60, 1.1, False, "dash", "widevine",
    ),
    DeviceProfile(
        3, "LG Smart TV", "webOS", "webOS",
        (("webOS 23", 40), ("webOS 6.0", 35), ("webOS 5.0", 25)),
        "Smart TV",
        (("LG", "OLED55C3PUA", "LG OLED evo C3 55", 50), ("LG", "43UQ7590PUB", "LG UHD UQ75 43", 50)),
        NATIVE_APP, _NATIVE, "webOS Media Player", (("Shaka Player", "4.3.6", 1.0),), "webOS_",
        TV_LADDER_BPS, 60, 1.3, False, "dash", "playready",
    ),
    DeviceProfile(
        2, "PlayStation", "PlayStation OS", "PlayStation",
        (("PlayStation 5 24.03", 1.0),),
        "Game Console",
        (("Sony", "CFI-1215A", "PlayStation 5", 1.0),),
        NATIVE_APP, _NATIVE, "PlayStation Media Player", (("WebMAF", "3.2", 1.0),), "PS_",
        TV_LADDER_BPS, 60, 0.95, False, "dash", "playready",
    ),
    DeviceProfile(
        2, "Xbox", "Xbox OS", "Windows",
        (("Xbox OS 10.0.25398", 1.0),),
        "Game Console",
        (("Microsoft", "Xbox Series X", "Xbox Series X", 60), ("Microsoft", "Xbox Series S", "Xbox Series S", 40)),
        NATIVE_APP, _NATIVE, "Xbox Media Player", (("MediaPlayerElement", "10.0", 1.0),), "Xbox_",
        TV_LADDER_BPS, 60, 0.95, False, "dash", "playready",
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str
    continent: str


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("US", "United States", "North America"),
        Country("CA", "Canada", "North America"),
        Country("MX", "Mexico", "North America"),
        Country("BR", "Brazil", "South America"),
        Country("GB", "United Kingdom", "Europe"),
        Country("DE", "Germany", "Europe"),
        Country("FR", "France", "Europe"),
        Country("ES", "Spain", "Europe"),
        Country("IT", "Italy", "Europe"),
        Country("IN", "India", "Asia"),
        Country("JP", "Japan", "Asia"),
        Country("AU", "Australia", "Oceania"),
    )
}


@dataclass(frozen=True, slots=True)
class Place:
    """A city; ``weight`` is its absolute share of viewers. ``dma`` is set for US places only."""

    weight: float
    country_code: str
    city: str
    state: str
    state_code: str
    postal_codes: tuple[str, ...]
    dma: str = ""


PLACES: tuple[Place, ...] = (
    Place(9.0, "US", "New York", "New York", "NY", ("10001", "10025", "11201", "11375"), "New York"),
    Place(6.5, "US", "Los Angeles", "California", "CA", ("90012", "90027", "90045"), "Los Angeles"),
    Place(4.5, "US", "Chicago", "Illinois", "IL", ("60609", "60614", "60657"), "Chicago"),
    Place(3.0, "US", "Houston", "Texas", "TX", ("77002", "77056"), "Houston"),
    Place(3.0, "US", "Dallas", "Texas", "TX", ("75201", "75219"), "Dallas-Ft. Worth"),
    Place(2.5, "US", "Philadelphia", "Pennsylvania", "PA", ("19103", "19147"), "Philadelphia"),
    Place(2.5, "US", "Atlanta", "Georgia", "GA", ("30303", "30309"), "Atlanta"),
    Place(2.2, "US", "Miami", "Florida", "FL", ("33130", "33139"), "Miami-Ft. Lauderdale"),
    Place(2.0, "US", "Seattle", "Washington", "WA", ("98101", "98109"), "Seattle-Tacoma"),
    Place(2.0, "US", "Boston", "Massachusetts", "MA", ("02108", "02116"), "Boston (Manchester)"),
    Place(2.0, "US", "Phoenix", "Arizona", "AZ", ("85004", "85016"), "Phoenix (Prescott)"),
    Place(2.0, "US", "San Francisco", "California", "CA", ("94103", "94110"), "San Francisco-Oak-San Jose"),
    Place(1.6, "US", "Denver", "Colorado", "CO", ("80202", "80218"), "Denver"),
    Place(1.5, "US", "Minneapolis", "Minnesota", "MN", ("55401", "55408"), "Minneapolis-St. Paul"),
    Place(1.4, "US", "Detroit", "Michigan", "MI", ("48201", "48226"), "Detroit"),
    Place(1.4, "US", "Tampa", "Florida", "FL", ("33602", "33606"), "Tampa-St. Pete (Sarasota)"),
    Place(1.2, "US", "Charlotte", "North Carolina", "NC", ("28202", "28205"), "Charlotte"),
    Place(1.1, "US", "Portland", "Oregon", "OR", ("97205", "97214"), "Portland, OR"),
    Place(1.0, "US", "Las Vegas", "Nevada", "NV", ("89101", "89109"), "Las Vegas"),
    Place(1.0, "US", "Columbus", "Ohio", "OH", ("43215", "43201"), "Columbus, OH"),
    Place(1.0, "US", "Austin", "Texas", "TX", ("78701", "78704"), "Austin"),
    Place(0.9, "US", "Nashville", "Tennessee", "TN", ("37203", "37206"), "Nashville"),
    Place(0.8, "US", "Kansas City", "Missouri", "MO", ("64105", "64111"), "Kansas City"),
    Place(0.7, "US", "Salt Lake City", "Utah", "UT", ("84101", "84111"), "Salt Lake City"),
    Place(4.0, "GB", "London", "England", "ENG", ("SW1A", "E1", "N1", "SE1")),
    Place(1.2, "GB", "Manchester", "England", "ENG", ("M1", "M14")),
    Place(1.0, "GB", "Birmingham", "England", "ENG", ("B1", "B15")),
    Place(0.8, "GB", "Glasgow", "Scotland", "SCT", ("G1", "G12")),
    Place(0.5, "GB", "Cardiff", "Wales", "WLS", ("CF10", "CF24")),
    Place(2.5, "CA", "Toronto", "Ontario", "ON", ("M5V", "M4C")),
    Place(1.4, "CA", "Montreal", "Quebec", "QC", ("H2X", "H3B")),
    Place(1.2, "CA", "Vancouver", "British Columbia", "BC", ("V6B", "V5K")),
    Place(0.8, "CA", "Calgary", "Alberta", "AB", ("T2P", "T3A")),
    Place(2.0, "DE", "Berlin", "Land Berlin", "BE", ("10115", "10997")),
    Place(1.2, "DE", "Munich", "Bavaria", "BY", ("80331", "81667")),
    Place(1.0, "DE", "Hamburg", "Hamburg", "HH", ("20095", "22767")),
    Place(0.8, "DE", "Frankfurt am Main", "Hesse", "HE", ("60311", "60486")),
    Place(2.5, "FR", "Paris", "Île-de-France", "IDF", ("75001", "75011", "75015")),
    Place(0.8, "FR", "Lyon", "Auvergne-Rhône-Alpes", "ARA", ("69001", "69007")),
    Place(0.7, "FR", "Marseille", "Provence-Alpes-Côte d'Azur", "PAC", ("13001", "13008")),
    Place(1.6, "ES", "Madrid", "Madrid", "MD", ("28001", "28013")),
    Place(1.0, "ES", "Barcelona", "Catalonia", "CT", ("08001", "08021")),
    Place(1.4, "IT", "Rome", "Lazio", "62", ("00184", "00197")),
    Place(1.2, "IT", "Milan", "Lombardy", "25", ("20121", "20146")),
    Place(2.6, "BR", "São Paulo", "São Paulo", "SP", ("01310-100", "04538-133")),
    Place(1.6, "BR", "Rio de Janeiro", "Rio de Janeiro", "RJ", ("20040-002", "22041-001")),
    Place(0.6, "BR", "Belo Horizonte", "Minas Gerais", "MG", ("30130-010",)),
    Place(2.0, "MX", "Mexico City", "Mexico City", "CMX", ("06600", "11560")),
    Place(0.8, "MX", "Guadalajara", "Jalisco", "JAL", ("44100", "44600")),
    Place(0.7, "MX", "Monterrey", "Nuevo León", "NLE", ("64000", "64620")),
    Place(1.6, "AU", "Sydney", "New South Wales", "NSW", ("2000", "2010")),
    Place(1.3, "AU", "Melbourne", "Victoria", "VIC", ("3000", "3121")),
    Place(0.6, "AU", "Brisbane", "Queensland", "QLD", ("4000",)),
    Place(1.6, "IN", "Mumbai", "Maharashtra", "MH", ("400001", "400050")),
    Place(1.4, "IN", "Delhi", "National Capital Territory of Delhi", "DL", ("110001", "110017")),
    Place(1.0, "IN", "Bengaluru", "Karnataka", "KA", ("560001", "560034")),
    Place(1.4, "JP", "Tokyo", "Tokyo", "13", ("100-0001", "150-0002")),
    Place(0.7, "JP", "Osaka", "Osaka", "27", ("530-0001",)),
)


@dataclass(frozen=True, slots=True)
class Isp:
    """An access network; ``quality`` multiplies start-up time and stall likelihood (1.0 is typical)."""

    weight: float
    country_code: str
    name: str
    asn: int
    handle: str
    organization: str
    is_mobile: bool = False
    quality: float = 1.0

    @property
    def description(self) -> str:
        return f"{self.handle} - {self.organization}, {self.country_code}"


ISPS: tuple[Isp, ...] = (
    Isp(30, "US", "Comcast", 7922, "COMCAST-7922", "Comcast Cable Communications, LLC", quality=0.95),
    Isp(22, "US", "Charter Communications", 20115, "CHARTER-20115", "Charter Communications"),
    Isp(14, "US", "AT&T Internet", 7018, "ATT-INTERNET4", "AT&T Services, Inc."),
    Isp(
        12, "US", "Verizon Fios", 701, "UUNET", "MCI Communications Services, Inc. d/b/a Verizon Business", quality=0.85
    ),
    Isp(8, "US", "Cox Communications", 22773, "ASN-CXA-ALL-CCI-22773-RDC", "Cox Communications Inc."),
    Isp(5, "US", "CenturyLink", 209, "CENTURYLINK-US-LEGACY-QWEST", "CenturyLink Communications, LLC", quality=1.3),
    Isp(
        4,
        "US",
        "Frontier Communications",
        5650,
        "FRONTIER-FRTR",
        "Frontier Communications of America, Inc.",
        quality=1.35,
    ),
    Isp(40, "US", "Verizon Wireless", 22394, "CELLCO", "Cellco Partnership DBA Verizon Wireless", True, 1.4),
    Isp(35, "US", "T-Mobile USA", 21928, "T-MOBILE-AS21928", "T-Mobile USA, Inc.", True, 1.45),
    Isp(25, "US", "AT&T Mobility", 20057, "ATT-MOBILITY-LLC-AS20057", "AT&T Mobility LLC", True, 1.5),
    Isp(35, "GB", "BT", 2856, "BT-UK-AS", "British Telecommunications PLC"),
    Isp(25, "GB", "Sky Broadband", 5607, "BSKYB-BROADBAND-AS", "Sky UK Limited"),
    Isp(25, "GB", "Virgin Media", 5089, "NTL", "Virgin Media Limited", quality=0.95),
    Isp(50, "GB", "EE", 12576, "EE", "EE Limited", True, 1.4),
    Isp(50, "GB", "Vodafone UK", 25135, "VODAFONE_UK_ASN", "Vodafone Limited", True, 1.5),
    Isp(50, "CA", "Bell Canada", 577, "BACOM", "Bell Canada"),
    Isp(50, "CA", "Rogers", 812, "ROGERS-COMMUNICATIONS", "Rogers Communications Canada Inc."),
    Isp(100, "CA", "TELUS Mobility", 852, "ASN852", "TELUS Communications Inc.", True, 1.4),
    Isp(60, "DE", "Deutsche Telekom", 3320, "DTAG", "Deutsche Telekom AG"),
    Isp(40, "DE", "Vodafone Germany", 3209, "VODANET", "Vodafone GmbH", quality=1.05),
    Isp(100, "DE", "O2 Germany", 6805, "TDDE-ASN1", "Telefonica Germany GmbH & Co.OHG", True, 1.5),
    Isp(45, "FR", "Orange", 3215, "FRANCETELECOM-AS", "Orange S.A."),
    Isp(30, "FR", "Free", 12322, "PROXAD", "Free SAS", quality=0.95),
    Isp(25, "FR", "SFR", 15557, "LDCOMNET", "Societe Francaise du Radiotelephone - SFR SA", quality=1.1),
    Isp(100, "FR", "Bouygues Telecom", 5410, "BOUYGTEL-ISP", "Bouygues Telecom SA", True, 1.4),
    Isp(60, "ES", "Movistar", 3352, "TELEFONICA_DE_ESPANA", "Telefonica de Espana S.A.U."),
    Isp(40, "ES", "Orange Spain", 12479, "UNI2-AS", "Orange Espagne SA"),
    Isp(100, "ES", "Vodafone Spain", 12430, "VODAFONE_ES", "Vodafone Espana S.A.U.", True, 1.4),
    Isp(60, "IT", "TIM", 3269, "ASN-IBSNAZ", "Telecom Italia S.p.A.", quality=1.1),
    Isp(40, "IT", "Fastweb", 12874, "FASTWEB", "Fastweb SpA"),
    Isp(100, "IT", "WINDTRE", 1267, "ASN-WINDTRE", "WIND TRE S.P.A.", True, 1.5),
    Isp(55, "BR", "Claro", 28573, "CLARO S.A.", "Claro NXT Telecomunicacoes Ltda", quality=1.2),
    Isp(45, "BR", "Vivo", 26599, "TELEFONICA BRASIL S.A", "Telefonica Brasil S.A.", quality=1.2),
    Isp(100, "BR", "TIM Brasil", 26615, "TIM SA", "TIM S/A", True, 1.7),
    Isp(65, "MX", "Telmex", 8151, "Uninet S.A. de C.V.", "Uninet S.A. de C.V.", quality=1.25),
    Isp(
        35,
        "MX",
        "Totalplay",
        22884,
        "TOTAL PLAY TELECOMUNICACIONES SA DE CV",
        "Total Play Telecomunicaciones SA De CV",
        quality=1.15,
    ),
    Isp(100, "MX", "Telcel", 28403, "RadioMovil Dipsa, S.A. de C.V.", "RadioMovil Dipsa, S.A. de C.V.", True, 1.7),
    Isp(60, "AU", "Telstra", 1221, "ASN-TELSTRA", "Telstra Limited"),
    Isp(40, "AU", "TPG Telecom", 7545, "TPG-INTERNET-AP", "TPG Telecom Limited", quality=1.1),
    Isp(100, "AU", "Optus", 4804, "MPX-AS", "Microplex PTY LTD", True, 1.45),
    Isp(60, "IN", "Airtel", 24560, "AIRTELBROADBAND-AS-AP", "Bharti Airtel Ltd., Telemedia Services", quality=1.4),
    Isp(40, "IN", "ACT Fibernet", 24309, "CABLELITE-AS-AP", "Atria Convergence Technologies Pvt. Ltd.", quality=1.3),
    Isp(65, "IN", "Reliance Jio", 55836, "RELIANCEJIO-IN", "Reliance Jio Infocomm Limited", True, 1.8),
    Isp(35, "IN", "Vodafone Idea", 38266, "VODAFONE-IN", "Vodafone Idea Ltd", True, 1.9),
    Isp(45, "JP", "NTT OCN", 4713, "OCN", "NTT Communications Corporation", quality=0.85),
    Isp(30, "JP", "KDDI", 2516, "KDDI", "KDDI CORPORATION", quality=0.85),
    Isp(25, "JP", "SoftBank", 17676, "GIGAINFRA", "SoftBank Corp.", quality=0.9),
    Isp(100, "JP", "NTT DOCOMO", 9605, "DOCOMO", "NTT DOCOMO, INC.", True, 1.2),
)


@dataclass(frozen=True, slots=True)
class Cdn:
    weight: float
    name: str
    edge_servers: tuple[str, ...]
    group_ids: tuple[str, ...]


@cache
def cdns() -> tuple[Cdn, ...]:
    """Resource names with plausible edge servers and group ids (fixed, independent of any seed)."""
    rng = random.Random(7)
    pops = ("iad", "ord", "dfw", "lax", "sea", "atl", "lhr", "fra", "cdg", "gru", "nrt", "syd")

    def octets() -> str:
        return f"{rng.randrange(1, 255)}-{rng.randrange(1, 255)}"

    return (
        Cdn(35, "AKAMAI", tuple(f"a23-{octets()}.deploy.static.akamaitechnologies.com" for _ in range(40)),
            tuple(str(rng.randrange(100_000, 999_999)) for _ in range(6))),
        Cdn(25, "CLOUDFRONT", tuple(f"server-13-{octets()}.{rng.choice(pops)}{rng.randrange(50, 99)}.r.cloudfront.net"
                                    for _ in range(40)),
            tuple(f"E{rng.getrandbits(48):012X}" for _ in range(4))),
        Cdn(15, "FASTLY", tuple(f"cache-{(p := rng.choice(pops))}-k{p}{rng.randrange(7000, 8999)}-{p.upper()}"
                                for _ in range(40)),
            ("fastly-shield-1", "fastly-shield-2")),
        Cdn(10, "LEVEL3", tuple(f"edge-{rng.randrange(1, 99)}.{rng.choice(pops)}.level3.net" for _ in range(20)),
            ("",)),
        Cdn(15, "INHOUSE", tuple(f"edge{rng.randrange(1, 32):02d}.{rng.choice(pops)}.cdn.reelsight.example"
                                 for _ in range(20)),
            ("origin-a", "origin-b", "origin-c")),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Asset:
    """One piece of content; ``length_ms`` is 0 for live. ``weight`` is its (Zipf) popularity."""

    weight: float
    name: str
    category: str  # "Live" or "VoD"
    length_ms: int
    channel: str
    show_title: str
    fps: int
    hls_url: str
    dash_url: str

    @property
    def is_live(self) -> bool:
        return self.category == "Live"


# (title, channel, minutes per episode, frames per second)
_SERIES: tuple[tuple[str, str, int, int], ...] = (
    ("Detective Memoirs", "The Premium Channel", 45, 25),
    ("Harbor Lights", "Northlight Drama", 44, 25),
    ("The Long Weekend", "Harbor Comedy", 22, 30),
    ("Salt & Stone", "Northlight Drama", 52, 24),
    ("Kitchen Rivals", "Everyday Living", 42, 30),
    ("Orbit Station", "Reelsight Originals", 48, 24),
    ("Small Town Sheriff", "The Premium Channel", 44, 30),
    ("Wild Coasts", "Documentary One", 50, 25),
    ("Office Hours", "Harbor Comedy", 22, 30),
    ("The Archivist", "Reelsight Originals", 55, 24),
    ("Garden Makeover", "Everyday Living", 30, 30),
    ("Night Shift ER", "The Premium Channel", 43, 30),
    ("Pocket Monsters Club", "Kids Planet", 11, 30),
    ("Captain Comet", "Kids Planet", 22, 30),
    ("Legends of the Pitch", "Summit Sports", 46, 50),
    ("Cold Case Files: Revisited", "Documentary One", 44, 25),
    ("Mountain Rescue", "Documentary One", 45, 25),
    ("The Startup", "Reelsight Originals", 32, 24),
    ("Royal Bakers", "Everyday Living", 58, 25),
    ("Midnight Diner Tales", "Northlight Drama", 25, 24),
    ("Border Patrol North", "The Premium Channel", 42, 30),
    ("Space Cadets", "Kids Planet", 12, 30),
    ("Inside the Locker Room", "Summit Sports", 28, 60),
    ("The Inheritance", "Northlight Drama", 58, 24),
    ("Roommates", "Harbor Comedy", 21, 30),
    ("Ocean Giants", "Documentary One", 49, 25),
    ("Courtroom Seven", "The Premium Channel", 43, 30),
    ("Lost Recipes", "Everyday Living", 24, 30),
)

_MOVIES: tuple[tuple[str, int], ...] = (
    ("The Last Lighthouse", 118), ("Paper Planes", 96), ("Northern Crossing", 134), ("Glass Harbor", 109),
    ("A Winter in Lisbon", 101), ("Steel Horizon", 142), ("The Quiet Orchard", 93), ("Velocity", 126),
    ("Midnight Express Line", 112), ("The Cartographer", 131), ("Summer of the Comet", 99),
    ("Deep Blue Signal", 121), ("Brothers in Arms Again", 138), ("The Clockmaker's Daughter", 115),
    ("Desert Rain", 104), ("Echoes of Ember", 127), ("Second Chances", 97), ("The Heist at Noon", 119),
    ("Little Giants", 88), ("Skyward", 107), ("The Forgotten Coast", 124), ("Iron Meadow", 136),
    ("Blue Moon Motel", 102), ("Parallel Lines", 111), ("The Apprentice Wizard", 129),
    ("Crimson Tide Rising", 133), ("A Map of Stars", 116), ("Fast Lane", 94), ("The Long Goodbye Tour", 108),
    ("Harvest Moon", 100), ("City of Bridges", 125), ("The Ninth Floor", 98), ("Open Water", 91),
    ("The Chess Player", 122), ("Runaway Train", 105), ("Silver Screen Dreams", 137),
    ("The Lantern Festival", 103), ("Operation Nightfall", 144), ("Far From Shore", 113),
    ("The Honest Thief", 99), ("Snowbound", 95), ("Wings of Change", 117),
)  # fmt: skip

# (name, channel, frames per second)
_LIVE: tuple[tuple[str, str, int], ...] = (
    ("City News 24 Live", "City News 24", 30),
    ("Summit Sports Live", "Summit Sports", 60),
    ("Premier Football: Matchday Live", "Summit Sports", 50),
    ("Morning Show Live", "The Premium Channel", 30),
    ("Basketball Tonight Live", "Summit Sports", 60),
    ("World Business Report Live", "City News 24", 30),
    ("Kids Planet Live", "Kids Planet", 30),
    ("Concert Hall Live", "Reelsight Originals", 30),
    ("Weather Now Live", "City News 24", 30),
    ("Motor Racing Live", "Summit Sports", 60),
)


LIVE_SHARE = 0.15
ZIPF_EXPONENT = 0.95


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


@cache
def assets() -> tuple[Asset, ...]:
    """Series episodes, movies and live channels with Zipf popularity (fixed, independent of any seed)."""
    rng = random.Random(11)
    rows: list[tuple[str, str, int, str, str, int, str]] = []  # name, category, length, channel, show, fps, path
    for title, channel, minutes, fps in _SERIES:
        for season in range(1, rng.randint(1, 4) + 1):
            for episode in range(1, rng.randint(6, 10) + 1):
                length_ms = (minutes * 60 + rng.randint(-150, 150)) * 1000
                name = f"{title}: S{season}, E{episode}"
                rows.append((name, "VoD", length_ms, channel, title, fps, f"{_slug(title)}/s{season}e{episode}"))
    for title, minutes in _MOVIES:
        length_ms = (minutes * 60 + rng.randint(0, 59)) * 1000
        rows.append((title, "VoD", length_ms, "Reelsight Movies", title, 24, f"movies/{_slug(title)}"))
    for name, channel, fps in _LIVE:
        rows.append((name, "Live", 0, channel, name, fps, f"live/{_slug(name)}"))
    rng.shuffle(rows)
    # Popularity is Zipf within on-demand and within live; live takes LIVE_SHARE of sessions overall.
    shares = {"VoD": 1.0 - LIVE_SHARE, "Live": LIVE_SHARE}
    ranks = {"VoD": 0, "Live": 0}
    zipf: list[float] = []
    for row in rows:
        ranks[row[1]] += 1
        zipf.append(1.0 / ranks[row[1]] ** ZIPF_EXPONENT)
    totals = {category: sum(w for w, row in zip(zipf, rows, strict=True) if row[1] == category) for category in shares}
    result: list[Asset] = []
    for weight, (name, category, length_ms, channel, show, fps, path) in zip(zipf, rows, strict=True):
        host = "live.reelsight.example" if category == "Live" else "vod.reelsight.example"
        result.append(
            Asset(
                weight=shares[category] * weight / totals[category],
                name=name,
                category=category,
                length_ms=length_ms,
                channel=channel,
                show_title=show,
                fps=fps,
                hls_url=f"https://{host}/{path}/master.m3u8",
                dash_url=f"https://{host}/{path}/manifest.mpd",
            )
        )
    return tuple(result)


# Fatal error messages. Business ones match the usual business-error patterns ("geo-blocked",
# "entitlement", "concurrent stream"); technical ones must not.
BUSINESS_FAILURES: tuple[str, ...] = (
    "Geo-blocked content",
    "Entitlement check failed",
    "Concurrent stream limit reached",
)
TECH_FAILURES: tuple[str, ...] = ("Manifest 404", "DRM license error", "Network timeout")
# Non-fatal warnings; the last one only happens in sessions with an ad break.
WARNINGS: tuple[str, ...] = (
    "Segment download retry",
    "Bandwidth estimate low, switching down",
    "Subtitle track failed to load",
    "Dropped frames above threshold",
    "Ad request timeout",
)

SUBSCRIPTION_TIERS: tuple[tuple[str, float], ...] = (("free", 45), ("basic", 35), ("premium", 20))
# Chance of a pre-roll ad break per tier, for on-demand content (live halves it).
PREROLL_CHANCE: dict[str, float] = {"free": 0.85, "basic": 0.3, "premium": 0.0}
EXPERIMENTS: tuple[tuple[str, float], ...] = (("A", 45), ("B", 45), ("holdout", 10))
APP_RELEASES: tuple[tuple[str, float], ...] = (
    ("5.46.0", 40),
    ("5.45.1", 30),
    ("5.44.3", 15),
    ("5.40.0", 10),
    ("4.98.2", 5),
)
CONNECTION_TYPES: tuple[str, ...] = ("wifi", "ethernet", "cellular")


@dataclass(frozen=True, slots=True)
class AdBreak:
    system: str
    technology: str
    duration_s: int
    ad_id: str
    creative_id: str
    api_framework: str


AD_BREAKS: tuple[AdBreak, ...] = (
    AdBreak("Google IMA", "Client Side", 15, "ad-10041", "cr-55120", ""),
    AdBreak("Google IMA", "Client Side", 30, "ad-10042", "cr-55121", ""),
    AdBreak("Google IMA", "Client Side", 30, "ad-10077", "cr-55302", "VPAID"),
    AdBreak("FreeWheel", "Server Side", 60, "ad-20310", "cr-61008", ""),
    AdBreak("FreeWheel", "Server Side", 90, "ad-20311", "cr-61009", ""),
    AdBreak("SpringServe", "Server Side", 45, "ad-30902", "cr-70411", "OMID"),
)


@dataclass(frozen=True, slots=True)
class AdCreative:
    """One ad the generator's ad servers return: its ids, its asset name and planned duration."""

    weight: float
    ad_id: str
    creative_id: str
    title: str  # the ad session's asset name
    system: str  # the ad server
    technology: str  # "Client Side" (the player fetches the ad) or "Server Side" (stitched into the stream)
    duration_s: int  # planned duration
    api_framework: str  # "", "VPAID" or "OMID"
    media_url: str  # the ad's own file; server-side ads play in the content's stream

    @property
    def is_skippable(self) -> bool:
        """Client-side ads of 30 s or more may be skipped after five seconds."""
        return self.technology == "Client Side" and self.duration_s >= 30


# (ad server, technology, weight for on-demand content, weight for live content)
AD_SYSTEMS: tuple[tuple[str, str, float, float], ...] = (
    ("Google IMA", "Client Side", 55, 0),
    ("FreeWheel", "Server Side", 30, 65),
    ("SpringServe", "Server Side", 15, 35),
)
_ADVERTISERS: tuple[str, ...] = (
    "Summit Energy Drink", "Northwind Bank", "Harbor Motors", "Bluebell Yogurt", "Orbit Mobile",
    "Cedar Home Insurance", "Lumen Streaming Sticks", "Pine & Co. Outdoor", "Velvet Coffee",
    "Atlas Airlines", "Greenleaf Grocers", "Nimbus Cloud Storage", "Redline Tyres", "Sunny Side Cereal",
    "Quill Stationery", "Polar Ice Cream", "Copperpot Cookware", "Trailhead Running Shoes",
)  # fmt: skip
_AD_DURATIONS_S: tuple[tuple[int, float], ...] = ((15, 45), (30, 42), (6, 6), (20, 4), (60, 3))


@cache
def ad_creatives() -> tuple[AdCreative, ...]:
    """Two to four creatives per advertiser and ad server (fixed, independent of any seed)."""
    rng = random.Random(13)
    durations = [d for d, _ in _AD_DURATIONS_S]
    duration_weights = [w for _, w in _AD_DURATIONS_S]
    result: list[AdCreative] = []
    for number, (system, technology, _, _) in enumerate(AD_SYSTEMS):
        for rank, advertiser in enumerate(_ADVERTISERS, start=1):
            for variant in range(1, rng.randint(2, 4) + 1):
                duration_s = rng.choices(durations, duration_weights)[0]
                api = rng.choices(("", "VPAID", "OMID"), (70, 10, 20) if technology == "Client Side" else (80, 0, 20))[
                    0
                ]
                creative_id = f"cr-{(number + 5) * 10_000 + rank * 100 + variant}"
                result.append(
                    AdCreative(
                        weight=1.0 / rank**0.8 / variant,
                        ad_id=f"ad-{(number + 1) * 10_000 + rank * 10 + variant}",
                        creative_id=creative_id,
                        title=f"{advertiser} - {duration_s}s spot {variant}",
                        system=system,
                        technology=technology,
                        duration_s=duration_s,
                        api_framework=api,
                        media_url=f"https://ads.reelsight.example/creatives/{creative_id}/{duration_s}s.mp4",
                    )
                )
    return tuple(result)


# Ad errors: never business failures (none matches the business-error patterns).
AD_START_FAILURES: tuple[str, ...] = (
    "VAST error 405: media file could not be played",
    "VAST error 402: media file timeout",
    "VPAID error 901: creative failed to initialise",
)
AD_PLAYBACK_FAILURES: tuple[str, ...] = ("Ad media decode error", "Ad segment download failed")
