"""The ClickHouse schema: versioned migrations applied at start-up, the cluster DDL derived from them.

Sessions live in a ``ReplacingMergeTree`` ordered by ``(account_id, sample_key, conviva_session_id)``:
- the sort key is derived from the session's identity alone, so writing a session again (a
  re-import, a corrected end time) always collapses onto the old row, and reads with ``FINAL`` see
  only the newest version before any merge ran;
- one account's sessions are read in sample-key order, so a sample stops after ``limit`` matching
  rows (``optimize_read_in_order``) however many sessions the window holds.
The documents (and timelines) live apart, in ``session_docs`` (v6), ordered by the end time in 4-hour
buckets, then the sample key, in granules of 32 rows, so fetching a sample's documents decompresses little
beyond them; ``session_ids`` makes a ``session_id`` filter a key read. Accounts and keys are small
``ReplacingMergeTree`` tables read with ``FINAL`` on every request (one statement), so a disabled key
stops at once on every read node. Documents are zstd frames of their own, each compressed with a
dictionary the store trains (v10, ``documents.py``); ``end_ms`` drives the TTL that
applies the retention (set from ``retention_days`` at start-up).

Migrations are history, as for SQLite: literal SQL, frozen once released, appended only. Every
statement is idempotent (``IF NOT EXISTS``), because several nodes may start at once.
"""

from __future__ import annotations

import functools
import re

from reelsight.aggregates.inputs import FACT_COLUMNS
from reelsight.query.dimensions import SCALAR_DIMENSIONS
from reelsight.query.parse import FLAG_PARAMS


def _v1() -> list[str]:
    """Accounts, API keys and sessions, with every column the dimension and flag tables had then."""
    return [
        """CREATE TABLE IF NOT EXISTS accounts (
  id UInt64,
  name String,
  viewer_module UInt8,
  business_error_patterns String,
  ingest_key String,
  created_ms Int64,
  ip_privacy LowCardinality(String),
  version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY id""",
        """CREATE TABLE IF NOT EXISTS api_keys (
  key_id String,
  account_id UInt64,
  secret_hash String,
  disabled UInt8,
  created_ms Int64,
  version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY key_id""",
        """CREATE TABLE IF NOT EXISTS sessions (
  account_id UInt64,
  sample_key Int64,
  conviva_session_id String,
  end_ms Int64,
  start_ms Int64,
  is_ended UInt8,
  session_id String,
  client_id String,
  cdn Array(String),
  tags Map(String, String),
  is_exit_before_video_start UInt8,
  is_video_start_failure UInt8,
  is_video_start_failure_business UInt8,
  is_video_start_failure_tech UInt8,
  is_video_playback_failure UInt8,
  is_video_playback_failure_business UInt8,
  is_video_playback_failure_tech UInt8,
  d_ad_creative_id String,
  d_ad_id String,
  d_ad_media_file_api_framework LowCardinality(String),
  d_ad_planned_duration LowCardinality(String),
  d_ad_position LowCardinality(String),
  d_ad_sequence LowCardinality(String),
  d_ad_system LowCardinality(String),
  d_ad_technology LowCardinality(String),
  d_app_version LowCardinality(String),
  d_asn LowCardinality(String),
  d_asset String,
  d_browser_name LowCardinality(String),
  d_browser_version LowCardinality(String),
  d_cdn_edge_group LowCardinality(String),
  d_cdn_edge_server String,
  d_content_category LowCardinality(String),
  d_content_meta_channel LowCardinality(String),
  d_content_meta_show_title String,
  d_content_session_id String,
  d_device_hardware_type LowCardinality(String),
  d_device_manufacturer LowCardinality(String),
  d_device_marketing_name LowCardinality(String),
  d_device_model LowCardinality(String),
  d_device_name LowCardinality(String),
  d_device_os LowCardinality(String),
  d_device_os_family LowCardinality(String),
  d_device_os_version LowCardinality(String),
  d_geo_city_name LowCardinality(String),
  d_geo_continent_name LowCardinality(String),
  d_geo_country_code LowCardinality(String),
  d_geo_country_name LowCardinality(String),
  d_geo_dma LowCardinality(String),
  d_geo_postal_code LowCardinality(String),
  d_geo_state_code LowCardinality(String),
  d_geo_state_name LowCardinality(String),
  d_isp LowCardinality(String),
  d_platform_version LowCardinality(String),
  d_player_framework_name LowCardinality(String),
  d_player_framework_version LowCardinality(String),
  d_player_name LowCardinality(String),
  d_stream_url String,
  d_video_asset_name String,
  viewer_id String,
  viewer_split UInt32,
  doc String CODEC(ZSTD(3)),
  version UInt64,
  INDEX by_session_id session_id TYPE bloom_filter GRANULARITY 4,
  INDEX by_client_id client_id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, sample_key, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY""",
        """CREATE TABLE IF NOT EXISTS schema_migrations (
  version UInt32,
  applied_ms Int64
) ENGINE = ReplacingMergeTree ORDER BY version""",
    ]


def _v2() -> list[str]:
    """Custom tag keys per account and UTC day of the sessions' end, for the dimensions list: written
    beside each chunk of sessions; the newest ``last_end_ms`` of a key and day wins in merges, and
    reads take ``max`` so unmerged rows answer the same."""
    return [
        """CREATE TABLE IF NOT EXISTS tag_keys (
  account_id UInt64,
  day Int32,
  key String,
  last_end_ms Int64
) ENGINE = ReplacingMergeTree(last_end_ms) ORDER BY (account_id, day, key)""",
    ]


def _v3() -> list[str]:
    """Ad sessions and the viewer lookup.

    - ``accounts.ad_insights``: the permission for the ad sessions endpoint.
    - ``ad_sessions``: ad sessions, with the layout of ``sessions`` (a content sample never reads ad rows).
    - ``viewer_sessions``: one row per content session and lookup key (``v:`` + viewer id, ``i:`` +
      client address), ordered for one viewer's newest sessions; a read checks every row against the
      session's current version (``FINAL``), so a row left by a session rewritten since never
      answers. Filled here for the sessions already stored (their addresses from the documents)."""
    return [
        "ALTER TABLE accounts ADD COLUMN IF NOT EXISTS ad_insights UInt8 DEFAULT 0",
        """CREATE TABLE IF NOT EXISTS ad_sessions (
  account_id UInt64,
  sample_key Int64,
  conviva_session_id String,
  end_ms Int64,
  start_ms Int64,
  is_ended UInt8,
  session_id String,
  client_id String,
  cdn Array(String),
  tags Map(String, String),
  is_exit_before_video_start UInt8,
  is_video_start_failure UInt8,
  is_video_start_failure_business UInt8,
  is_video_start_failure_tech UInt8,
  is_video_playback_failure UInt8,
  is_video_playback_failure_business UInt8,
  is_video_playback_failure_tech UInt8,
  d_ad_creative_id String,
  d_ad_id String,
  d_ad_media_file_api_framework LowCardinality(String),
  d_ad_planned_duration LowCardinality(String),
  d_ad_position LowCardinality(String),
  d_ad_sequence LowCardinality(String),
  d_ad_system LowCardinality(String),
  d_ad_technology LowCardinality(String),
  d_app_version LowCardinality(String),
  d_asn LowCardinality(String),
  d_asset String,
  d_browser_name LowCardinality(String),
  d_browser_version LowCardinality(String),
  d_cdn_edge_group LowCardinality(String),
  d_cdn_edge_server String,
  d_content_category LowCardinality(String),
  d_content_meta_channel LowCardinality(String),
  d_content_meta_show_title String,
  d_content_session_id String,
  d_device_hardware_type LowCardinality(String),
  d_device_manufacturer LowCardinality(String),
  d_device_marketing_name LowCardinality(String),
  d_device_model LowCardinality(String),
  d_device_name LowCardinality(String),
  d_device_os LowCardinality(String),
  d_device_os_family LowCardinality(String),
  d_device_os_version LowCardinality(String),
  d_geo_city_name LowCardinality(String),
  d_geo_continent_name LowCardinality(String),
  d_geo_country_code LowCardinality(String),
  d_geo_country_name LowCardinality(String),
  d_geo_dma LowCardinality(String),
  d_geo_postal_code LowCardinality(String),
  d_geo_state_code LowCardinality(String),
  d_geo_state_name LowCardinality(String),
  d_isp LowCardinality(String),
  d_platform_version LowCardinality(String),
  d_player_framework_name LowCardinality(String),
  d_player_framework_version LowCardinality(String),
  d_player_name LowCardinality(String),
  d_stream_url String,
  d_video_asset_name String,
  viewer_id String,
  viewer_split UInt32,
  doc String CODEC(ZSTD(3)),
  version UInt64,
  INDEX ad_by_session_id session_id TYPE bloom_filter GRANULARITY 4,
  INDEX ad_by_client_id client_id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, sample_key, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY""",
        """CREATE TABLE IF NOT EXISTS viewer_sessions (
  account_id UInt64,
  lookup String,
  end_ms Int64,
  sample_key Int64,
  conviva_session_id String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, lookup, end_ms, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY""",
        """INSERT INTO viewer_sessions (account_id, lookup, end_ms, sample_key, conviva_session_id, version)
SELECT account_id, lookup, end_ms, sample_key, conviva_session_id, version FROM sessions FINAL
ARRAY JOIN arrayFilter(x -> x NOT IN ('v:', 'i:'), [concat('v:', viewer_id),
  concat('i:', JSONExtractString(doc, 'network_info', 'ip')),
  concat('i:', JSONExtractString(doc, 'network_info', 'ipv6'))]) AS lookup""",
    ]


# The metric inputs v4 adds to both session tables (the same text for each: one literal).
_V4_COLUMNS = """ADD COLUMN IF NOT EXISTS
  a_start_time_ms Int64 DEFAULT if(is_exit_before_video_start = 0 AND is_video_start_failure = 0,
    greatest(0, JSONExtractInt(doc, 'lifetime_metrics', 'video_start_time_ms')), 0),
 ADD COLUMN IF NOT EXISTS
  a_playing_time_ms Int64 DEFAULT JSONExtractInt(doc, 'lifetime_metrics', 'playing_time_ms'),
 ADD COLUMN IF NOT EXISTS
  a_rebuffering_time_ms Int64 DEFAULT JSONExtractInt(doc, 'lifetime_metrics', 'rebuffering_time_ms'),
 ADD COLUMN IF NOT EXISTS
  a_cir_time_ms Int64 DEFAULT JSONExtractInt(doc, 'lifetime_metrics', 'connection_induced_rebuffering_time_ms'),
 ADD COLUMN IF NOT EXISTS
  a_paused_time_ms Int64 DEFAULT JSONExtractInt(doc, 'lifetime_metrics', 'paused_time_ms'),
 ADD COLUMN IF NOT EXISTS
  a_bitrate_bps_s Int64 DEFAULT if(JSONExtractFloat(doc, 'lifetime_metrics', 'average_peak_bitrate_bps') > 0,
    toInt64(floor(JSONExtractFloat(doc, 'lifetime_metrics', 'average_peak_bitrate_bps')
    * JSONExtractInt(doc, 'lifetime_metrics', 'playing_time_ms') / 1000)), 0),
 ADD COLUMN IF NOT EXISTS
  a_bitrate_weight_ms Int64 DEFAULT if(JSONExtractFloat(doc, 'lifetime_metrics', 'average_peak_bitrate_bps') > 0,
    JSONExtractInt(doc, 'lifetime_metrics', 'playing_time_ms'), 0),
 ADD COLUMN IF NOT EXISTS
  a_framerate_fps_ms Int64 DEFAULT if(JSONExtractFloat(doc, 'lifetime_metrics', 'average_framerate_fps') > 0,
    toInt64(floor(JSONExtractFloat(doc, 'lifetime_metrics', 'average_framerate_fps')
    * JSONExtractInt(doc, 'lifetime_metrics', 'playing_time_ms'))), 0),
 ADD COLUMN IF NOT EXISTS
  a_framerate_weight_ms Int64 DEFAULT if(JSONExtractFloat(doc, 'lifetime_metrics', 'average_framerate_fps') > 0,
    JSONExtractInt(doc, 'lifetime_metrics', 'playing_time_ms'), 0),
 ADD COLUMN IF NOT EXISTS
  a_complete_ms Int64 DEFAULT if(JSONExtractString(doc, 'content_info', 'category') = 'VoD'
    AND JSONExtractInt(doc, 'content_info', 'length_ms') > 0
    AND is_exit_before_video_start = 0 AND is_video_start_failure = 0,
    least(JSONExtractInt(doc, 'lifetime_metrics', 'playing_time_ms'),
    JSONExtractInt(doc, 'content_info', 'length_ms')), 0),
 ADD COLUMN IF NOT EXISTS
  a_length_ms Int64 DEFAULT if(JSONExtractString(doc, 'content_info', 'category') = 'VoD'
    AND JSONExtractInt(doc, 'content_info', 'length_ms') > 0
    AND is_exit_before_video_start = 0 AND is_video_start_failure = 0,
    JSONExtractInt(doc, 'content_info', 'length_ms'), 0),
 ADD COLUMN IF NOT EXISTS
  a_restart_time_ms Int64 DEFAULT greatest(0, JSONExtractInt(doc, 'lifetime_metrics', 'video_restart_time_ms')),
 ADD COLUMN IF NOT EXISTS
  a_restarts Int64 DEFAULT if(JSONExtractInt(doc, 'lifetime_metrics', 'video_restart_time_ms') > 0, 1, 0)"""


def _v4() -> list[str]:
    """Aggregates: the integer inputs of the metrics as columns of every session (``aggregates/inputs.py``),
    summed natively by the metrics endpoints. New rows carry the values computed in Python; for rows
    written before, each column's DEFAULT computes the same value from the document when it is read
    (ClickHouse evaluates a missing column's DEFAULT per part), so nothing is rewritten at upgrade."""
    return [f"ALTER TABLE {table} {_V4_COLUMNS}" for table in ("sessions", "ad_sessions")]


def _v5() -> list[str]:
    """Session timelines (``sessions/timeline_codec.py``): a column of every session, ``''`` for a session
    without one (imported, or written before). In the session's own row, so a rewrite replaces it, and
    the TTL and the purge remove it, with the session."""
    return [
        """ALTER TABLE sessions ADD COLUMN IF NOT EXISTS
  timeline String DEFAULT '' CODEC(ZSTD(3))""",
        """ALTER TABLE ad_sessions ADD COLUMN IF NOT EXISTS
  timeline String DEFAULT '' CODEC(ZSTD(3))""",
    ]


# The columns the writer inserts into v6's tables (``missing_session_columns`` checks that v6 creates them).
DOC_COLUMNS: tuple[str, ...] = (
    "account_id",
    "is_ad",
    "end_bucket",
    "sample_key",
    "conviva_session_id",
    "end_ms",
    "viewer_id",
    "viewer_split",
    "doc",
    "timeline",
    "version",
    "dict_id",
)
ID_COLUMNS: tuple[str, ...] = (
    "account_id",
    "is_ad",
    "session_id",
    "conviva_session_id",
    "sample_key",
    "end_ms",
    "version",
)

# 4 hours: the end-time bucket of ``session_docs`` (the same literal as in ``_v6``'s SQL).
DOC_BUCKET_MS = 14_400_000


def _v6() -> list[str]:
    """Documents in a narrow table of their own, and the ``session_id`` lookup as a key read.

    - ``session_docs``: the document, timeline, viewer id and split of every session (content and ad,
      ``is_ad``), ordered by ``(account_id, is_ad, end_bucket, sample_key, conviva_session_id)``
      (``end_bucket``: the end time in 4-hour buckets) in granules of 32 rows. A sample's documents
      are the smallest sample keys of each bucket its window touches: short runs of adjacent rows, so
      a fetch decompresses little beyond what it returns (in ``sessions`` each fetched row
      decompressed a whole granule of up to 8,192 documents). The newest version wins before merges
      (reads keep the highest ``version``). A rewrite that moves a session to another bucket leaves
      its old row behind (a different key); reads address the documents by the bucket of the
      session's current version, and the TTL and the purge drop the old row.
    - ``session_ids``: one row per session, ordered by ``(account_id, is_ad, session_id, ...)``: a
      ``session_id`` filter reads its candidates here instead of scanning the window.
    - Both filled here from the sessions already stored (their documents stay in ``sessions`` too:
      the v4 columns' DEFAULTs still compute from them; new rows there carry ``doc = ''``)."""
    return [
        """CREATE TABLE IF NOT EXISTS session_docs (
  account_id UInt64,
  is_ad UInt8,
  end_bucket Int32,
  sample_key Int64,
  conviva_session_id String,
  end_ms Int64,
  viewer_id String,
  viewer_split UInt32,
  doc String CODEC(ZSTD(3)),
  timeline String CODEC(ZSTD(3)),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, is_ad, end_bucket, sample_key, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY
SETTINGS index_granularity = 32""",
        """CREATE TABLE IF NOT EXISTS session_ids (
  account_id UInt64,
  is_ad UInt8,
  session_id String,
  conviva_session_id String,
  sample_key Int64,
  end_ms Int64,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, is_ad, session_id, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY
SETTINGS index_granularity = 1024""",
        """INSERT INTO session_docs (account_id, is_ad, end_bucket, sample_key, conviva_session_id, end_ms, viewer_id,
  viewer_split, doc, timeline, version)
SELECT account_id, 0, toInt32(intDiv(end_ms, 14400000)), sample_key, conviva_session_id, end_ms, viewer_id,
  viewer_split, doc, timeline, version FROM sessions FINAL WHERE doc != ''""",
        """INSERT INTO session_docs (account_id, is_ad, end_bucket, sample_key, conviva_session_id, end_ms, viewer_id,
  viewer_split, doc, timeline, version)
SELECT account_id, 1, toInt32(intDiv(end_ms, 14400000)), sample_key, conviva_session_id, end_ms, viewer_id,
  viewer_split, doc, timeline, version FROM ad_sessions FINAL WHERE doc != ''""",
        """INSERT INTO session_ids (account_id, is_ad, session_id, conviva_session_id, sample_key, end_ms, version)
SELECT account_id, 0, session_id, conviva_session_id, sample_key, end_ms, version FROM sessions FINAL
WHERE doc != ''""",
        """INSERT INTO session_ids (account_id, is_ad, session_id, conviva_session_id, sample_key, end_ms, version)
SELECT account_id, 1, session_id, conviva_session_id, sample_key, end_ms, version FROM ad_sessions FINAL
WHERE doc != ''""",
    ]


# The columns of v7's ``session_ends`` (``missing_session_columns`` checks that v7 creates them).
END_COLUMNS: tuple[str, ...] = ("account_id", "sample_key", "conviva_session_id", "end_ms", "is_ended", "version")

# 1 hour: the end-time bucket of ``session_facts`` (the same literal as in ``_v7``'s SQL).
FACT_BUCKET_MS = 3_600_000


def _v7() -> list[str]:
    """Aggregates read a time-ordered copy of the content sessions' facts, and a rewrite retracts the copy
    it moves away from.

    - ``session_facts``: every column the metrics sum, group or filter by (flags, dimensions, CDNs,
      tags, the v4 facts), ordered by ``(account_id, end_bucket, sample_key, conviva_session_id)``
      (``end_bucket``: the end time in hours). A window reads the granules of its hours only; in
      ``sessions`` (ordered by identity) every window read every row of the account. Content sessions
      only (the metrics cover them); no document, no ids (a ``session_id`` / ``client_id`` filter reads
      ``sessions``, through its bloom filters).
    - ``session_ends``: the last end (and version, and whether it ended) of every content session,
      ordered by identity in granules of 256 rows, so the lookup of a written chunk reads a few rows per
      session, not the table; the viewer lookup checks its candidates' versions here too (a lookup
      row answers only while its version is the session's newest).
    - Both filled by materialized views from every block inserted into ``sessions`` (the engine copies
      the columns: no second encoding in Python), and here from the sessions already stored (the v4
      columns' DEFAULTs compute the facts of rows written before v4). A row inserted between a view's
      creation and the copy arrives twice, with one key and version: one row.
    - A rewrite that moves a session to another hour would leave its old row behind (a different
      key), counted in the old hour's window: before inserting a chunk the writer looks up the
      sessions' last ends in ``session_ends`` and writes a retraction under each old key
      (``is_ended = 0``, the new version), which ``FINAL`` keeps instead of the old row and every
      aggregate skips."""
    return [
        """CREATE TABLE IF NOT EXISTS session_facts (
  account_id UInt64,
  end_bucket Int32,
  sample_key Int64,
  conviva_session_id String,
  end_ms Int64,
  is_ended UInt8,
  cdn Array(String),
  tags Map(String, String),
  is_exit_before_video_start UInt8,
  is_video_start_failure UInt8,
  is_video_start_failure_business UInt8,
  is_video_start_failure_tech UInt8,
  is_video_playback_failure UInt8,
  is_video_playback_failure_business UInt8,
  is_video_playback_failure_tech UInt8,
  d_ad_creative_id String,
  d_ad_id String,
  d_ad_media_file_api_framework LowCardinality(String),
  d_ad_planned_duration LowCardinality(String),
  d_ad_position LowCardinality(String),
  d_ad_sequence LowCardinality(String),
  d_ad_system LowCardinality(String),
  d_ad_technology LowCardinality(String),
  d_app_version LowCardinality(String),
  d_asn LowCardinality(String),
  d_asset String,
  d_browser_name LowCardinality(String),
  d_browser_version LowCardinality(String),
  d_cdn_edge_group LowCardinality(String),
  d_cdn_edge_server String,
  d_content_category LowCardinality(String),
  d_content_meta_channel LowCardinality(String),
  d_content_meta_show_title String,
  d_content_session_id String,
  d_device_hardware_type LowCardinality(String),
  d_device_manufacturer LowCardinality(String),
  d_device_marketing_name LowCardinality(String),
  d_device_model LowCardinality(String),
  d_device_name LowCardinality(String),
  d_device_os LowCardinality(String),
  d_device_os_family LowCardinality(String),
  d_device_os_version LowCardinality(String),
  d_geo_city_name LowCardinality(String),
  d_geo_continent_name LowCardinality(String),
  d_geo_country_code LowCardinality(String),
  d_geo_country_name LowCardinality(String),
  d_geo_dma LowCardinality(String),
  d_geo_postal_code LowCardinality(String),
  d_geo_state_code LowCardinality(String),
  d_geo_state_name LowCardinality(String),
  d_isp LowCardinality(String),
  d_platform_version LowCardinality(String),
  d_player_framework_name LowCardinality(String),
  d_player_framework_version LowCardinality(String),
  d_player_name LowCardinality(String),
  d_stream_url String,
  d_video_asset_name String,
  a_start_time_ms Int64,
  a_playing_time_ms Int64,
  a_rebuffering_time_ms Int64,
  a_cir_time_ms Int64,
  a_paused_time_ms Int64,
  a_bitrate_bps_s Int64,
  a_bitrate_weight_ms Int64,
  a_framerate_fps_ms Int64,
  a_framerate_weight_ms Int64,
  a_complete_ms Int64,
  a_length_ms Int64,
  a_restart_time_ms Int64,
  a_restarts Int64,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, end_bucket, sample_key, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY""",
        """CREATE TABLE IF NOT EXISTS session_ends (
  account_id UInt64,
  sample_key Int64,
  conviva_session_id String,
  end_ms Int64,
  is_ended UInt8,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, sample_key, conviva_session_id)
TTL toDateTime(intDiv(end_ms, 1000)) + INTERVAL 31 DAY
SETTINGS index_granularity = 256""",
        """CREATE MATERIALIZED VIEW IF NOT EXISTS session_facts_copy TO session_facts AS
SELECT account_id, toInt32(intDiv(end_ms, 3600000)) AS end_bucket, sample_key, conviva_session_id, end_ms,
  is_ended, cdn, tags, is_exit_before_video_start, is_video_start_failure, is_video_start_failure_business,
  is_video_start_failure_tech, is_video_playback_failure, is_video_playback_failure_business,
  is_video_playback_failure_tech, d_ad_creative_id, d_ad_id, d_ad_media_file_api_framework,
  d_ad_planned_duration, d_ad_position, d_ad_sequence, d_ad_system, d_ad_technology, d_app_version, d_asn,
  d_asset, d_browser_name, d_browser_version, d_cdn_edge_group, d_cdn_edge_server, d_content_category,
  d_content_meta_channel, d_content_meta_show_title, d_content_session_id, d_device_hardware_type,
  d_device_manufacturer, d_device_marketing_name, d_device_model, d_device_name, d_device_os,
  d_device_os_family, d_device_os_version, d_geo_city_name, d_geo_continent_name, d_geo_country_code,
  d_geo_country_name, d_geo_dma, d_geo_postal_code, d_geo_state_code, d_geo_state_name, d_isp,
  d_platform_version, d_player_framework_name, d_player_framework_version, d_player_name, d_stream_url,
  d_video_asset_name, a_start_time_ms, a_playing_time_ms, a_rebuffering_time_ms, a_cir_time_ms,
  a_paused_time_ms, a_bitrate_bps_s, a_bitrate_weight_ms, a_framerate_fps_ms, a_framerate_weight_ms,
  a_complete_ms, a_length_ms, a_restart_time_ms, a_restarts, version FROM sessions""",
        """CREATE MATERIALIZED VIEW IF NOT EXISTS session_ends_copy TO session_ends AS
SELECT account_id, sample_key, conviva_session_id, end_ms, is_ended, version FROM sessions""",
        """INSERT INTO session_facts (account_id, end_bucket, sample_key, conviva_session_id, end_ms, is_ended, cdn,
  tags, is_exit_before_video_start, is_video_start_failure, is_video_start_failure_business,
  is_video_start_failure_tech, is_video_playback_failure, is_video_playback_failure_business,
  is_video_playback_failure_tech, d_ad_creative_id, d_ad_id, d_ad_media_file_api_framework,
  d_ad_planned_duration, d_ad_position, d_ad_sequence, d_ad_system, d_ad_technology, d_app_version, d_asn,
  d_asset, d_browser_name, d_browser_version, d_cdn_edge_group, d_cdn_edge_server, d_content_category,
  d_content_meta_channel, d_content_meta_show_title, d_content_session_id, d_device_hardware_type,
  d_device_manufacturer, d_device_marketing_name, d_device_model, d_device_name, d_device_os,
  d_device_os_family, d_device_os_version, d_geo_city_name, d_geo_continent_name, d_geo_country_code,
  d_geo_country_name, d_geo_dma, d_geo_postal_code, d_geo_state_code, d_geo_state_name, d_isp,
  d_platform_version, d_player_framework_name, d_player_framework_version, d_player_name, d_stream_url,
  d_video_asset_name, a_start_time_ms, a_playing_time_ms, a_rebuffering_time_ms, a_cir_time_ms,
  a_paused_time_ms, a_bitrate_bps_s, a_bitrate_weight_ms, a_framerate_fps_ms, a_framerate_weight_ms,
  a_complete_ms, a_length_ms, a_restart_time_ms, a_restarts, version)
SELECT account_id, toInt32(intDiv(end_ms, 3600000)), sample_key, conviva_session_id, end_ms, is_ended, cdn,
  tags, is_exit_before_video_start, is_video_start_failure, is_video_start_failure_business,
  is_video_start_failure_tech, is_video_playback_failure, is_video_playback_failure_business,
  is_video_playback_failure_tech, d_ad_creative_id, d_ad_id, d_ad_media_file_api_framework,
  d_ad_planned_duration, d_ad_position, d_ad_sequence, d_ad_system, d_ad_technology, d_app_version, d_asn,
  d_asset, d_browser_name, d_browser_version, d_cdn_edge_group, d_cdn_edge_server, d_content_category,
  d_content_meta_channel, d_content_meta_show_title, d_content_session_id, d_device_hardware_type,
  d_device_manufacturer, d_device_marketing_name, d_device_model, d_device_name, d_device_os,
  d_device_os_family, d_device_os_version, d_geo_city_name, d_geo_continent_name, d_geo_country_code,
  d_geo_country_name, d_geo_dma, d_geo_postal_code, d_geo_state_code, d_geo_state_name, d_isp,
  d_platform_version, d_player_framework_name, d_player_framework_version, d_player_name, d_stream_url,
  d_video_asset_name, a_start_time_ms, a_playing_time_ms, a_rebuffering_time_ms, a_cir_time_ms,
  a_paused_time_ms, a_bitrate_bps_s, a_bitrate_weight_ms, a_framerate_fps_ms, a_framerate_weight_ms,
  a_complete_ms, a_length_ms, a_restart_time_ms, a_restarts, version FROM sessions FINAL""",
        """INSERT INTO session_ends (account_id, sample_key, conviva_session_id, end_ms, is_ended, version)
SELECT account_id, sample_key, conviva_session_id, end_ms, is_ended, version FROM sessions FINAL""",
    ]


def _v8() -> list[str]:
    """A repair: migration 6's copies again.

    Before the migration runner set the retention's TTL ahead of every backfill (2026-12-03), migration
    6 copied the documents and ids into tables created with the literal 31-day TTL of their ``CREATE``:
    with a longer retention, the engine could drop the copies of sessions older than 31 days before the
    start-up set the real TTL, and those sessions stopped answering samples and lookups (their rows in
    ``sessions`` kept their documents: every row written before migration 6 has one, later rows have
    ``doc = ''``). This copies every such row again, under the retention's TTL (set before each
    ``INSERT``): telling the lost ones from the kept ones would take a join with ``session_docs`` about
    as costly as the copy. A copy that survived gets a twin with the same key and version (one row
    after merges; reads keep one document per session); a session rewritten since has ``doc = ''`` in
    its current version (``FINAL``), so no older version comes back. On a database created at schema 6
    or later it copies nothing."""
    return [statement for statement in _v6() if statement.startswith("INSERT INTO ")]  # v6 is frozen SQL


def _v9() -> list[str]:
    """The session ids compressed with ZSTD instead of the default LZ4, in the tables that are read by
    key (documents, ids, viewer lookups) and for ``client_id``, which only its own filter reads.

    The ids are random digits (hex for CMCD's UUIDs), which LZ4 barely shrinks and ZSTD's entropy
    coding halves: about 100 bytes per stored session in all, 1,063 to 966 (``docs/benchmarks.md``,
    "The ClickHouse store's size"). The tables a sample scans (``sessions``, ``ad_sessions`` and ``session_facts``
    with ``FINAL``, which reads their ``conviva_session_id``) keep LZ4, the faster to decompress. A
    codec change is metadata only: new parts use ZSTD, older ones keep LZ4 until a merge rewrites them."""
    return [
        "ALTER TABLE session_docs MODIFY COLUMN conviva_session_id String CODEC(ZSTD(1))",
        "ALTER TABLE session_ids MODIFY COLUMN conviva_session_id String CODEC(ZSTD(1))",
        "ALTER TABLE session_ids MODIFY COLUMN session_id String CODEC(ZSTD(1))",
        "ALTER TABLE viewer_sessions MODIFY COLUMN conviva_session_id String CODEC(ZSTD(1))",
        "ALTER TABLE sessions MODIFY COLUMN client_id String CODEC(ZSTD(1))",
        "ALTER TABLE ad_sessions MODIFY COLUMN client_id String CODEC(ZSTD(1))",
    ]


def _v10() -> list[str]:
    """Documents compressed one by one with a zstd dictionary (``store/clickhouse/documents.py``):
    ``session_docs.dict_id`` names the row's dictionary, ``0`` a document stored as it is (every row
    written before). Metadata only: nothing is rewritten, the rows from before read as they are and
    expire with the retention. ``zstd_dicts`` is small, never expires, and is not sharded."""
    return [
        """ALTER TABLE session_docs ADD COLUMN IF NOT EXISTS
  dict_id UInt64 DEFAULT 0""",
        """CREATE TABLE IF NOT EXISTS zstd_dicts (
  id UInt64,
  dict String,
  created_ms Int64
) ENGINE = ReplacingMergeTree ORDER BY id""",
    ]


# Append only: a released migration is never edited, reordered or removed.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    tuple(_v1()),
    tuple(_v2()),
    tuple(_v3()),
    tuple(_v4()),
    tuple(_v5()),
    tuple(_v6()),
    tuple(_v7()),
    tuple(_v8()),
    tuple(_v9()),
    tuple(_v10()),
)
SCHEMA_VERSION = len(MIGRATIONS)

SESSION_COLUMNS: tuple[str, ...] = (
    "account_id",
    "sample_key",
    "conviva_session_id",
    "end_ms",
    "start_ms",
    "is_ended",
    "session_id",
    "client_id",
    "cdn",
    "tags",
    *FLAG_PARAMS,
    *(d.column for d in SCALAR_DIMENSIONS),
    *FACT_COLUMNS,
    "viewer_id",
    "viewer_split",
    "version",
)  # a session's row; its document and timeline go to ``session_docs`` (``doc`` is '' in rows written since v6)
_NOT_FACTS = ("start_ms", "session_id", "client_id", "viewer_id", "viewer_split")
# ``session_facts``' columns (v7): the session row's but the ids and the viewer, with the hour after the account.
# The writer inserts retractions in this order; the views copy the rest.
FACT_TABLE_COLUMNS: tuple[str, ...] = (
    "account_id",
    "end_bucket",
    *(c for c in SESSION_COLUMNS[1:] if c not in _NOT_FACTS),
)


def missing_session_columns() -> list[str]:
    """Columns the code's dimension and flag tables expect that no migration creates: a dimension
    added to the table needs a migration here (``tests`` check that none is missing)."""
    created = "\n".join("\n".join(m) for m in MIGRATIONS)
    written = (*SESSION_COLUMNS, *DOC_COLUMNS, *ID_COLUMNS, *FACT_TABLE_COLUMNS, *END_COLUMNS)
    return [c for c in written if f"\n  {c} " not in created]


# The newest second a ClickHouse DateTime holds (2106-02-07): a TTL past it would wrap around to 1970
# and expire every row, so the retention's expiry is clamped to it (36,500 days keeps sessions forever).
MAX_DATETIME_S = 4_294_967_295
SHARDED: tuple[str, ...] = (  # stored
    "sessions",
    "ad_sessions",
    "viewer_sessions",
    "session_docs",
    "session_ids",
    "session_facts",
    "session_ends",
)
# as <table>_local on a cluster, read through a Distributed <table>; all sharded by one key, so a session's
# document, lookup rows and every version of it live on one shard
SHARDING_KEY = "sipHash64(account_id, conviva_session_id)"
TTL_TABLES = SHARDED  # the tables whose rows expire with the retention


def ttl_expression(retention_days: int) -> str:
    """The TTL of rows ending at ``end_ms`` kept ``retention_days`` (an int): in Int64 seconds, clamped."""
    seconds = int(retention_days) * 86_400
    return f"toDateTime(least(intDiv(end_ms, 1000) + {seconds}, {MAX_DATETIME_S}))"


def ttl_statement(table: str, retention_days: int, cluster: str | None = None) -> str:
    """The statement that sets one table's retention (run at start-up; ``retention_days`` is an int)."""
    target = f"{_local(table)} ON CLUSTER {cluster}" if cluster else table
    return f"ALTER TABLE {target} MODIFY TTL {ttl_expression(retention_days)}"


_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+) \(")
_ALTER = re.compile(r"^ALTER TABLE (\w+) ")
_ENGINE = re.compile(r"ENGINE = ReplacingMergeTree(?:\((\w+)\))?")
_INSERT = re.compile(r"^INSERT INTO (\w+) ")
_VIEW = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\n(.*) FROM (\w+)$", re.DOTALL)
_TABLE_NAME = re.compile(r"\b(INTO|FROM) (\w+)\b")
_CLUSTER_BACKFILLS = ("session_docs", "session_ids", "session_facts", "session_ends")  # v6's and v7's copies the
# cluster DDL runs too


def _local(table: str) -> str:
    return f"{table}_local" if table in SHARDED else table


def _replicated(match: re.Match[str], *, table: str) -> str:
    path = "{shard}" if table in SHARDED else "all"  # accounts, keys, versions: a full copy on every node
    version = f", {match.group(1)}" if match.group(1) else ""
    zk_path = f"/clickhouse/tables/{path}/{{database}}/{table}"
    return f"ENGINE = ReplicatedReplacingMergeTree('{zk_path}', '{{replica}}'{version})"


def cluster_ddl(cluster: str, database: str) -> list[str]:
    """The schema of a sharded, replicated deployment, derived from :data:`MIGRATIONS`: every table
    replicated, the :data:`SHARDED` tables sharded by :data:`SHARDING_KEY` behind Distributed tables
    of their names, and the versions recorded, so that nodes opened with ``?cluster=`` find the schema current. Apply it
    once, to any node, before the first start (``reelsight store cluster-ddl``)."""
    on = f"ON CLUSTER {cluster}"
    out = [f"CREATE DATABASE IF NOT EXISTS {database} {on}"]
    copied: set[str] = set()  # the backfills already in ``out``
    for statements in MIGRATIONS:
        for statement in statements:
            if created := _CREATE.match(statement):
                table = created.group(1)
                body = _CREATE.sub(f"CREATE TABLE IF NOT EXISTS {database}.{_local(table)} {on} (", statement)
                out.append(_ENGINE.sub(functools.partial(_replicated, table=table), body))
                if table in SHARDED:
                    out.append(
                        f"CREATE TABLE IF NOT EXISTS {database}.{table} {on} AS {database}.{_local(table)}"
                        f" ENGINE = Distributed({cluster}, {database}, {_local(table)}, {SHARDING_KEY})"
                    )
            elif altered := _ALTER.match(statement):
                table = altered.group(1)
                out.append(_ALTER.sub(f"ALTER TABLE {database}.{_local(table)} {on} ", statement))
                if table in SHARDED:  # the Distributed table shows the same columns
                    out.append(_ALTER.sub(f"ALTER TABLE {database}.{table} {on} ", statement))
            elif view := _VIEW.match(statement):  # on every node, from the local table to the local table
                name, target, select, source = view.groups()
                out.append(
                    f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{name} {on} TO {database}.{_local(target)} AS\n"
                    f"{select} FROM {database}.{_local(source)}"
                )
            elif (target := _INSERT.match(statement)) and target.group(1) in _CLUSTER_BACKFILLS:
                if statement in copied:
                    continue  # migration 8 repeats migration 6's copies for single servers: once here
                copied.add(statement)
                # Without them an upgraded cluster's older sessions would have no documents: through the
                # Distributed tables (the same sharding key: each row lands on its session's shard). On
                # a new cluster they copy nothing; applied again they copy the same rows and versions.
                out.append(_TABLE_NAME.sub(lambda m: f"{m.group(1)} {database}.{m.group(2)}", statement))
            elif statement.startswith("INSERT INTO "):
                continue  # fills a lookup table from a single node's existing rows: a new cluster has none
            else:
                raise ValueError(f"no cluster form for the migration statement {statement[:60]!r}")
    versions = ", ".join(f"({v}, 0)" for v in range(1, len(MIGRATIONS) + 1))
    out.append(f"INSERT INTO {database}.schema_migrations (version, applied_ms) VALUES {versions}")  # noqa: S608
    return out
