"""The session document: exactly the shape, key order and units of the reference response.

This is the API contract type. Imports decode into it (strictly: unknown keys are errors), the
generator builds it, and the store converts it to its own record type in one place
(``store/records.py``). ``viewer_id``, ``network_info.ip`` and ``network_info.ipv6`` may be absent
on input; everything else is required.
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from reelsight.errors import DocumentError

SELECTED_DIMENSION_KEYS: tuple[str, ...] = (
    "ad_creative_id",
    "ad_id",
    "ad_media_file_api_framework",
    "ad_planned_duration",
    "ad_position",
    "ad_sequence",
    "ad_system",
    "ad_technology",
    "app_version",
    "browser_name",
    "browser_version",
    "content_category",
    "content_meta_channel",
    "content_meta_show_title",
    "content_session_id",
    "device_hardware_type",
    "device_manufacturer",
    "device_marketing_name",
    "device_model",
    "device_name",
    "device_os",
    "device_os_family",
    "device_os_version",
    "platform_version",
    "player_framework_name",
    "player_framework_version",
    "player_name",
    "video_asset_name",
)
# An ad session names the content session it played in here; every other session leaves it "".
CONTENT_SESSION_ID_KEY = "content_session_id"
# The selected dimensions that describe an ad (empty on a content session).
AD_DIMENSION_KEYS: tuple[str, ...] = tuple(key for key in SELECTED_DIMENSION_KEYS if key.startswith("ad_"))


class _Strict(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    pass


class Timestamp(_Strict):
    epoch_ms: int
    iso_date: str


class Timestamps(_Strict):
    start: Timestamp
    end: Timestamp


class ErrorEvent(_Strict):
    message: str
    is_fatal: bool
    epoch_ms: int


class StatusInfo(_Strict):
    is_ended: bool
    ended_status: str
    is_exit_before_video_start: bool
    is_video_start_failure: bool
    is_video_start_failure_business: bool
    is_video_start_failure_tech: bool
    is_video_playback_failure: bool
    is_video_playback_failure_business: bool
    is_video_playback_failure_tech: bool
    errors: list[ErrorEvent]


class LifetimeMetrics(_Strict):
    average_framerate_fps: float
    average_peak_bitrate_bps: float
    average_percentage_complete: float
    bitrate_switches_count: int
    connection_induced_rebuffering_ratio_percent: float
    connection_induced_rebuffering_time_ms: int
    last_play_head_time_ms: int
    playing_time_ms: int
    paused_ratio_percent: float
    paused_time_ms: int
    rebuffering_ratio_percent: float
    rebuffering_time_ms: int
    video_restart_time_ms: int
    video_start_time_ms: int


class ContentInfo(_Strict):
    asset: str
    category: str
    length_ms: int
    stream_url: str


class Browser(_Strict):
    name: str
    version: str


class DeviceInfo(_Strict):
    browser: Browser
    name: str
    os: str
    os_family: str
    os_version: str


class State(_Strict):
    name: str
    code: str


class Country(_Strict):
    name: str
    code: str


class GeoInfo(_Strict):
    city: str
    state: State
    country: Country
    continent: str
    postal_code: str
    dma: str


class Asn(_Strict):
    value: str
    description: str


class NetworkInfo(_Strict):
    asn: Asn
    cdn: list[str]
    isp: str
    last_cdn_edge_server: str
    last_cdn_group_id: str
    ip: str = ""
    ipv6: str = ""


SelectedDimensions = msgspec.defstruct(
    "SelectedDimensions",
    [(key, str) for key in SELECTED_DIMENSION_KEYS],
    bases=(_Strict,),
)


class Tags(_Strict):
    selected_dimensions: SelectedDimensions  # type: ignore[valid-type]
    custom_tags: dict[str, str]


class SessionDocument(_Strict, kw_only=True):
    conviva_session_id: str
    client_id: str
    session_id: str
    viewer_id: str | msgspec.UnsetType = msgspec.UNSET
    timestamps: Timestamps
    status_info: StatusInfo
    lifetime_metrics: LifetimeMetrics
    content_info: ContentInfo
    device_info: DeviceInfo
    geo_info: GeoInfo
    network_info: NetworkInfo
    tags: Tags


# Fields that are rounded to two decimals, as the response promises.
RATIO_FIELDS: tuple[str, ...] = (
    "average_framerate_fps",
    "average_peak_bitrate_bps",
    "average_percentage_complete",
    "connection_induced_rebuffering_ratio_percent",
    "paused_ratio_percent",
    "rebuffering_ratio_percent",
)
PERCENT_FIELDS: tuple[str, ...] = (
    "average_percentage_complete",
    "connection_induced_rebuffering_ratio_percent",
    "paused_ratio_percent",
    "rebuffering_ratio_percent",
)

ENDED_STATUSES = ("By Player", "By Expiration")
_CLIENT_ID = re.compile(r"(0|[1-9][0-9]{0,9})(\.(0|[1-9][0-9]{0,9})){3}")  # used with fullmatch
_SESSION_ID = re.compile(r"-?(0|[1-9][0-9]{0,9})")
_UINT32_MAX = 2**32 - 1
_INT32 = (-(2**31), 2**31 - 1)
# Epoch milliseconds accepted in documents: 2000-01-01 .. 2200-01-01.
EPOCH_MS_MIN = 946_684_800_000
EPOCH_MS_MAX = 7_258_118_400_000
MAX_STRING_CHARS = 4096


def _has_separator(text: str) -> bool:
    """U+001E and U+001F separate custom tags in the store, so no tag may contain them."""
    return "\x1e" in text or "\x1f" in text


def iso_from_epoch_ms(epoch_ms: int) -> str:
    """UTC, millisecond precision, ``Z`` suffix: ``2023-03-14T21:35:56.486Z``."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def is_valid_client_id(value: str) -> bool:
    return bool(_CLIENT_ID.fullmatch(value)) and all(int(p) <= _UINT32_MAX for p in value.split("."))


def is_valid_session_id(value: str) -> bool:
    return bool(_SESSION_ID.fullmatch(value)) and _INT32[0] <= int(value) <= _INT32[1]


def _check_timestamp(name: str, ts: Timestamp) -> None:
    if not EPOCH_MS_MIN <= ts.epoch_ms <= EPOCH_MS_MAX:
        raise DocumentError(f"timestamps.{name}.epoch_ms {ts.epoch_ms} is outside 2000..2200")
    expected = iso_from_epoch_ms(ts.epoch_ms)
    if ts.iso_date != expected:
        raise DocumentError(
            f"timestamps.{name}.iso_date {ts.iso_date!r} does not match epoch_ms (expected {expected!r})"
        )


def _check_status(status: StatusInfo) -> None:
    if status.ended_status not in ENDED_STATUSES and not (status.ended_status == "" and not status.is_ended):
        raise DocumentError(f"status_info.ended_status must be one of {ENDED_STATUSES}")
    for kind in ("start", "playback"):
        failed = getattr(status, f"is_video_{kind}_failure")
        business = getattr(status, f"is_video_{kind}_failure_business")
        tech = getattr(status, f"is_video_{kind}_failure_tech")
        if failed and business == tech:
            raise DocumentError(f"a video {kind} failure must be exactly one of business and tech")
        if not failed and (business or tech):
            raise DocumentError(f"is_video_{kind}_failure_business/_tech need is_video_{kind}_failure")
    if status.is_video_start_failure and status.is_exit_before_video_start:
        raise DocumentError("a session cannot be both a start failure and an exit before video start")
    not_joined = status.is_video_start_failure or status.is_exit_before_video_start
    if not_joined and status.is_video_playback_failure:
        raise DocumentError("a playback failure needs a joined session")


def _check_metrics(m: LifetimeMetrics) -> None:
    for name in m.__struct_fields__:
        value = getattr(m, name)
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise DocumentError(f"lifetime_metrics.{name} must be a finite number")
    for name in PERCENT_FIELDS:
        if not 0 <= getattr(m, name) <= 100:
            raise DocumentError(f"lifetime_metrics.{name} must be within 0..100")
    if m.video_start_time_ms < 0 and m.video_start_time_ms != -3000:
        raise DocumentError("lifetime_metrics.video_start_time_ms must be >= 0, or -3000 when not joined")
    if m.last_play_head_time_ms < -1:
        raise DocumentError("lifetime_metrics.last_play_head_time_ms must be >= 0, or -1 when unknown")
    for name in (
        "bitrate_switches_count",
        "connection_induced_rebuffering_time_ms",
        "playing_time_ms",
        "paused_time_ms",
        "rebuffering_time_ms",
        "video_restart_time_ms",
    ):
        if getattr(m, name) < 0:
            raise DocumentError(f"lifetime_metrics.{name} must not be negative")


def _check_string_sizes(doc: SessionDocument) -> None:
    for obj in msgspec.to_builtins(doc, order="deterministic").values():
        _walk_strings(obj)


def _walk_strings(obj: object) -> None:
    if isinstance(obj, str):
        if len(obj) > MAX_STRING_CHARS:
            raise DocumentError(f"a string value is longer than {MAX_STRING_CHARS} characters")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _walk_strings(key)
            _walk_strings(value)
    elif isinstance(obj, list):
        for value in obj:
            _walk_strings(value)


MAX_CUSTOM_TAGS = 256
MAX_ERRORS = 1000
MAX_CDNS = 64


def validate(doc: SessionDocument) -> SessionDocument:
    """Check the rules a decoder cannot, and return the document normalized (ratios rounded).

    Raises :class:`DocumentError` naming the field and the rule.
    """
    if not is_valid_client_id(doc.client_id):
        raise DocumentError("client_id must be four unsigned 32-bit integers joined by dots")
    if not is_valid_session_id(doc.session_id):
        raise DocumentError("session_id must be a signed 32-bit integer written in decimal")
    if doc.conviva_session_id != f"{doc.client_id}.{doc.session_id}":
        raise DocumentError('conviva_session_id must equal client_id + "." + session_id')
    _check_timestamp("start", doc.timestamps.start)
    _check_timestamp("end", doc.timestamps.end)
    if doc.timestamps.end.epoch_ms < doc.timestamps.start.epoch_ms:
        raise DocumentError("timestamps.end is before timestamps.start")
    _check_status(doc.status_info)
    _check_metrics(doc.lifetime_metrics)
    if doc.content_info.length_ms < 0:
        raise DocumentError("content_info.length_ms must not be negative")
    if len(doc.tags.custom_tags) > MAX_CUSTOM_TAGS:
        raise DocumentError(f"tags.custom_tags has more than {MAX_CUSTOM_TAGS} keys")
    if any(_has_separator(k) or _has_separator(v) for k, v in doc.tags.custom_tags.items()):
        raise DocumentError("tags.custom_tags keys and values must not contain the characters U+001E or U+001F")
    if len(doc.status_info.errors) > MAX_ERRORS:
        raise DocumentError(f"status_info.errors has more than {MAX_ERRORS} entries")
    if len(doc.network_info.cdn) > MAX_CDNS:
        raise DocumentError(f"network_info.cdn has more than {MAX_CDNS} entries")
    _check_string_sizes(doc)
    metrics = doc.lifetime_metrics
    rounded = {name: round(float(getattr(metrics, name)), 2) for name in RATIO_FIELDS}
    return msgspec.structs.replace(doc, lifetime_metrics=msgspec.structs.replace(metrics, **rounded))


_DECODER = msgspec.json.Decoder(SessionDocument)


def decode_document(line: bytes | str) -> SessionDocument:
    """Decode and validate one JSON session document; :class:`DocumentError` says why not."""
    try:
        doc = _DECODER.decode(line)
    except RecursionError:
        raise DocumentError("the document is nested too deeply") from None
    except msgspec.ValidationError as exc:
        raise DocumentError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise DocumentError(f"malformed JSON: {exc}") from None
    return validate(doc)
