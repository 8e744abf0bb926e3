"""The command line: serve, demo, accounts, keys, import and generate.

Every setting of ``settings.SETTINGS`` is a global option (``--db``, ``--retention-days``, ...) and
an environment variable (``REELSIGHT_DB``, ...); options win over the environment.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import click
import msgspec

from reelsight import credentials
from reelsight.clock import SystemClock
from reelsight.errors import AlreadyExists, BadStoreUrl, NotFoundInStore, ReelsightError, StorageFailure, StoreInUse
from reelsight.importing import import_jsonl
from reelsight.sessions.context import check_pattern
from reelsight.settings import SETTINGS, SettingError, Settings, load_settings
from reelsight.store.base import IP_PRIVACY_MODES, Account, Store
from reelsight.store.sqlite.connection import SYNCHRONOUS_MODES
from reelsight.store.url import store_url_of
from reelsight.stores import OpenStores, open_stores

MAX_HTTP_PROCESSES = 64


def _settings(ctx: click.Context, **command_level: Any) -> Settings:
    overrides = dict(ctx.find_root().params)
    overrides.update({k: v for k, v in command_level.items() if v is not None})
    try:
        return load_settings(os.environ, overrides)
    except SettingError as exc:
        raise click.UsageError(str(exc)) from None


def _open(settings: Settings, *, owner: str | None = None, live_log: bool = False) -> OpenStores:
    """The stores; ``owner`` (serve, demo) claims the live log's file for this process or fails
    naming the holder."""
    if settings.sqlite_synchronous not in SYNCHRONOUS_MODES:
        raise click.UsageError(f"sqlite_synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
    if owner is not None:  # serve, demo
        _check_processes(settings)
    try:
        return open_stores(settings, owner=owner, live_log=live_log)
    except BadStoreUrl as exc:
        raise click.UsageError(str(exc)) from None
    except (StoreInUse, StorageFailure) as exc:
        raise click.ClickException(str(exc)) from None


def _check_processes(settings: Settings) -> None:
    if not 1 <= settings.http_processes <= MAX_HTTP_PROCESSES:
        raise click.UsageError(f"http_processes must be 1 to {MAX_HTTP_PROCESSES}, got {settings.http_processes}")
    if settings.http_processes > 1 and store_url_of(settings.store, settings.db).startswith("chdb:"):
        raise click.UsageError(
            "http_processes > 1 needs a store every process can open: sqlite:// or clickhouse://"
            " (chDB runs inside one process)"
        )


def _open_store(settings: Settings) -> Store:
    """The store of accounts and sessions (for the commands that do not ingest)."""
    return _open(settings).main


def _setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for setting in reversed(SETTINGS):
        func = click.option(
            "--" + setting.name.replace("_", "-"),
            setting.name,
            type=setting.type,
            default=None,
            help=f"{setting.help} [env {setting.env_var}; default {setting.default}]",
        )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_setting_options
def main(**_settings_options: Any) -> None:
    """Reelsight: self-hosted video QoE analytics with a sessions API."""


# -- accounts and keys ------------------------------------------------------------------------


def _create_key(store: Store, account: Account) -> tuple[str, str]:
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    return key_id, secret


@main.group()
def accounts() -> None:
    """Create and list accounts."""


@accounts.command("create")
@click.argument("name")
@click.option(
    "--viewer-module", is_flag=True, help="Sessions in responses include viewer_id; the viewer endpoint answers."
)
@click.option("--ad-insights", is_flag=True, help="The ad sessions endpoint (/insights/3.0/sessions/ad) answers.")
@click.option(
    "--business-error",
    "business_errors",
    multiple=True,
    metavar="PATTERN",
    help="Error messages matching this (case-insensitive substring or regex) are business errors.",
)
@click.option(
    "--ip-privacy",
    type=click.Choice(IP_PRIVACY_MODES),
    default="full",
    show_default=True,
    help="How the client address is stored: full, truncate (IPv4 /24, IPv6 /48) or drop.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.pass_context
def accounts_create(
    ctx: click.Context,
    name: str,
    viewer_module: bool,
    ad_insights: bool,
    business_errors: tuple[str, ...],
    ip_privacy: str,
    as_json: bool,
) -> None:
    """Create account NAME and its first API credentials (the secret is shown only now).

    A business-error PATTERN is a case-insensitive substring, or a regular expression after "re:".
    """
    if not name.strip() or len(name) > 200:
        raise click.UsageError("NAME must be 1 to 200 characters")
    for pattern in business_errors:
        problem = check_pattern(pattern)
        if problem:
            raise click.UsageError(problem)
    store = _open_store(_settings(ctx))
    try:
        account = store.create_account(
            name,
            viewer_module=viewer_module,
            business_error_patterns=business_errors,
            ingest_key=credentials.new_ingest_key(),
            ip_privacy=ip_privacy,
            ad_insights=ad_insights,
        )
    except AlreadyExists as exc:
        raise click.ClickException(str(exc)) from None
    key_id, secret = _create_key(store, account)
    store.close()
    if as_json:
        out = {"account": name, "key_id": key_id, "secret": secret, "ingest_key": account.ingest_key}
        click.echo(msgspec.json.encode(out).decode())
    else:
        click.echo(f"account:    {name}\nkey id:     {key_id}\nsecret:     {secret}\ningest key: {account.ingest_key}")
        click.echo("Keep the secret now: it is stored only as a hash and cannot be shown again.")


@accounts.command("set")
@click.argument("name")
@click.option("--viewer-module/--no-viewer-module", default=None, help="Grant or revoke the viewer module.")
@click.option("--ad-insights/--no-ad-insights", default=None, help="Grant or revoke ad insights.")
@click.pass_context
def accounts_set(ctx: click.Context, name: str, viewer_module: bool | None, ad_insights: bool | None) -> None:
    """Grant or revoke the permissions of account NAME (effective on the next request)."""
    if viewer_module is None and ad_insights is None:
        raise click.UsageError("give --viewer-module/--no-viewer-module and/or --ad-insights/--no-ad-insights")
    store = _open_store(_settings(ctx))
    try:
        account = store.set_permissions(
            store.get_account(name).id, viewer_module=viewer_module, ad_insights=ad_insights
        )
    except NotFoundInStore as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"{account.name}\tviewer_module={account.viewer_module}\tad_insights={account.ad_insights}")


@accounts.command("list")
@click.pass_context
def accounts_list(ctx: click.Context) -> None:
    """List accounts with their permissions and API keys."""
    store = _open_store(_settings(ctx))
    for account in store.list_accounts():
        keys = store.list_api_keys(account.id)
        active = [k.key_id for k in keys if not k.disabled]
        disabled = [k.key_id for k in keys if k.disabled]
        granted = [
            name for name, on in (("viewer_module", account.viewer_module), ("ad_insights", account.ad_insights)) if on
        ]
        perms = ",".join(granted) or "-"
        click.echo(
            f"{account.name}\tpermissions={perms}\tip_privacy={account.ip_privacy}\tingest_key={account.ingest_key}\t"
            f"keys={','.join(active) or '-'}\tdisabled={','.join(disabled) or '-'}"
        )
    store.close()


@main.group()
def keys() -> None:
    """Create and disable API credentials."""


@keys.command("create")
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.pass_context
def keys_create(ctx: click.Context, account: str, as_json: bool) -> None:
    """Create new API credentials for ACCOUNT."""
    store = _open_store(_settings(ctx))
    try:
        found = store.get_account(account)
    except NotFoundInStore as exc:
        raise click.ClickException(str(exc)) from None
    key_id, secret = _create_key(store, found)
    store.close()
    if as_json:
        click.echo(msgspec.json.encode({"account": account, "key_id": key_id, "secret": secret}).decode())
    else:
        click.echo(f"key id: {key_id}\nsecret: {secret}")


@keys.command("disable")
@click.argument("key_id")
@click.pass_context
def keys_disable(ctx: click.Context, key_id: str) -> None:
    """Disable the API credentials KEY_ID (requests with them get 401 from then on)."""
    store = _open_store(_settings(ctx))
    try:
        store.disable_api_key(key_id)
    except NotFoundInStore as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"disabled {key_id}")


# -- data ---------------------------------------------------------------------------------------


@main.command("import")
@click.option("--account", required=True, help="The account the sessions belong to.")
@click.argument("file", type=click.File("rb"))
@click.pass_context
def import_command(ctx: click.Context, account: str, file: BinaryIO) -> None:
    """Import session documents from FILE (JSON Lines; - for stdin).

    Bad lines are reported on stderr with their number and reason and skipped; the exit status is
    1 when any line was skipped.
    """
    settings = _settings(ctx)
    store = _open_store(settings)
    try:
        found = store.get_account(account)
    except NotFoundInStore as exc:
        raise click.ClickException(str(exc)) from None

    def report_error(number: int, reason: str) -> None:
        click.echo(f"line {number}: {reason}", err=True)

    report = import_jsonl(store, found.id, file, max_line_bytes=settings.max_import_line_bytes, on_error=report_error)
    store.close()
    click.echo(f"imported {report.imported} sessions, skipped {report.rejected} bad lines")
    if report.rejected:
        sys.exit(1)


@main.command()
@click.option("--sessions", "count", type=click.IntRange(min=0), required=True, help="How many content sessions.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=31.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--end", "end_ms", type=int, default=None, help="End of the span, epoch ms [default: now].")
@click.option(
    "--ads",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Scales the chance of every ad break: 1 gives about 0.45 ad sessions per content session, 0 none.",
)
def generate(count: int, days: float, seed: int, end_ms: int | None, ads: float) -> None:
    """Write COUNT realistic ended content session documents as JSON Lines to stdout, each followed by
    the ad sessions played in it."""
    from reelsight.generate.sessions import encode_jsonl, generate_sessions

    end = end_ms if end_ms is not None else SystemClock().now_ms()
    out = sys.stdout.buffer
    docs = generate_sessions(count, seed=seed, end_ms=end, span_ms=round(days * 86_400_000), ads=ads)
    for line in encode_jsonl(docs):
        out.write(line)
    out.flush()


@main.command()
@click.option("--url", required=True, help="The Reelsight server, e.g. http://127.0.0.1:8080.")
@click.option("--ingest-key", required=True, help="The account's ingest key (`accounts list` shows it).")
@click.option("--viewers", type=click.IntRange(min=1), default=20, show_default=True, help="Concurrent players.")
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds to run; then sessions in progress are ended by their players.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same scenario sequence.")
@click.option(
    "--playback-s",
    type=(click.FloatRange(min=0), click.FloatRange(min=0)),
    default=(5.0, 40.0),
    show_default=True,
    metavar="MIN MAX",
    help="Range of the playing time of one session, in seconds (wall clock).",
)
@click.option(
    "--max-connections", type=click.IntRange(min=1), default=32, show_default=True, help="HTTP connections, shared."
)
def simulate(
    url: str,
    ingest_key: str,
    viewers: int,
    duration_s: float,
    seed: int,
    playback_s: tuple[float, float],
    max_connections: int,
) -> None:
    """Run synthetic players that post real event batches to URL's native ingest endpoint.

    Scenarios: smooth play, ABR switches, rebuffering, seeks, pauses, start and playback failures
    (business ones match the patterns geo-blocked, entitlement, concurrent stream), exits before
    start and players that vanish (the server expires them after its session timeout).
    """
    import asyncio
    import dataclasses

    from reelsight.simulate import Pacing, run_simulation
    from reelsight.simulate.transport import SimulationAborted

    low_s, high_s = playback_s
    if low_s > high_s:
        raise click.UsageError("--playback-s: MIN must not exceed MAX")
    pacing = dataclasses.replace(Pacing(), playback_s=(low_s, high_s))
    try:
        report = asyncio.run(
            run_simulation(
                url,
                ingest_key,
                viewers=viewers,
                duration_s=duration_s,
                seed=seed,
                pacing=pacing,
                max_connections=max_connections,
                keep_expectations=False,
                wait_ready_s=10.0,
            )
        )
    except SimulationAborted as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())
    if report.counters.failed_batches:
        sys.exit(1)


@main.command("cmcd-session")
@click.argument("sid")
def cmcd_session(sid: str) -> None:
    """Print the client_id and session_id of the CMCD session a player logged as SID (its `sid`),
    and the read API parameters that find it."""
    from reelsight.ingest.cmcd import session_identity

    client_id, session_id = session_identity(sid)
    click.echo(f"client_id:  {client_id}\nsession_id: {session_id}\nfind it:    ?client_id={client_id}")


# -- stores -------------------------------------------------------------------------------------


@main.group("store")
def store_group() -> None:
    """Check, compact or lay out a store."""


@store_group.command("check")
@click.argument("url", required=False)
@click.option("--read-only", is_flag=True, help="Skip the write checks (they use an account of their own).")
@click.pass_context
def store_check(ctx: click.Context, url: str | None, read_only: bool) -> None:
    """Run the store contract's smoke checks against URL (default: the configured store).

    URL is a store URL as for --store; the password is better given in REELSIGHT_STORE_PASSWORD.
    Exit status 1 when a check fails.
    """
    from reelsight.store.check import CheckFailed, run_checks

    settings = _settings(ctx, store=url)
    stores = _open(settings)
    try:
        run_checks(stores.main, retention_days=settings.retention_days, write=not read_only, echo=click.echo)
    except (CheckFailed, ReelsightError) as exc:
        click.echo(f"FAILED: {exc}", err=True)
        sys.exit(1)
    finally:
        stores.close()
    click.echo("all checks passed")


@store_group.command("compact")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-vacuum", is_flag=True, help="Compress only; the file keeps its size until the purge reuses it.")
def store_compact(path: str, no_vacuum: bool) -> None:
    """Shrink the SQLite store file PATH written before migration 6: compress its stored documents,
    then VACUUM (needs free disk about the new size). Stop the server first.
    """
    from reelsight.store.sqlite.compact import compact

    try:
        click.echo(compact(path, vacuum=not no_vacuum))
    except ReelsightError as exc:
        raise click.ClickException(str(exc)) from None


@store_group.command("cluster-ddl")
@click.option("--cluster", required=True, help="The cluster's name in the servers' remote_servers.")
@click.option("--database", default="reelsight", show_default=True)
def store_cluster_ddl(cluster: str, database: str) -> None:
    """Print the schema of a sharded, replicated ClickHouse deployment (docs/scaling.md).

    Apply it once to any node (clickhouse-client --multiquery), then start Reelsight with
    --store 'clickhouse://USER@HOST:8123/DATABASE?cluster=CLUSTER'.
    """
    from reelsight.store.clickhouse.schema import cluster_ddl
    from reelsight.store.url import parse_store_url

    try:
        parse_store_url(f"clickhouse://h/{database}?cluster={cluster}")  # both are checked identifiers
    except BadStoreUrl as exc:
        raise click.UsageError(str(exc)) from None
    for statement in cluster_ddl(cluster, database):
        click.echo(statement + ";\n")


# -- serving ------------------------------------------------------------------------------------


def _run_server(settings: Settings, stores: OpenStores) -> None:
    import uvicorn

    from reelsight.sessions.enrich import Enricher
    from reelsight.web.app import create_app
    from reelsight.web.server import server_config

    try:
        enricher = Enricher(settings.geoip_city_db, settings.geoip_asn_db, cache_dir=settings.geoip_cache_dir)
    except ReelsightError as exc:
        raise click.ClickException(str(exc)) from None
    # Tens of thousands of live sessions are long-lived objects: a full collection over them stalls
    # every request for 100+ ms. Collect the old generation far less often (it only ever finds
    # cycles; the sessions themselves are freed by reference counting).
    gc.set_threshold(10_000, 50, 1_000)
    if settings.http_processes > 1:
        from reelsight.processes.supervisor import serve_processes

        serve_processes(settings, stores, enricher)
        return
    live_log = stores.live_log()
    app = create_app(settings, stores.main, live_log, enricher, SystemClock(), live_log.outbox)
    uvicorn.Server(server_config(app, settings)).run()


@main.command()
@click.option("--host", default=None, help="Listen address [default: setting host].")
@click.option("--port", type=int, default=None, help="Listen port [default: setting port].")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the API (GET /insights/3.0/sessions/content) from the store."""
    settings = _settings(ctx, host=host, port=port)
    stores = _open(settings, owner="serve", live_log=True)
    try:
        _run_server(settings, stores)
    finally:
        stores.close()


@main.command()
@click.option("--host", default=None, help="Listen address [default: setting host].")
@click.option("--port", type=int, default=None, help="Listen port [default: setting port].")
@click.option("--sessions", "count", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--viewers",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Simulated players posting live events to the demo's own ingest endpoint (0: none).",
)
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None, count: int, seed: int, viewers: int) -> None:
    """Create a demo account, fill it with realistic sessions of the last 31 days, and serve, while
    simulated players send live events through the real ingest path.

    The simulated players send their own (random public) address in X-Forwarded-For, so the demo
    trusts 127.0.0.1 as a proxy unless `trusted_proxies` is set.
    """
    from reelsight.demo import prepare_demo, start_demo_traffic

    settings = _settings(ctx, host=host, port=port)
    if not settings.trusted_proxies and viewers:
        settings = settings.replace(trusted_proxies="127.0.0.1")
    stores = _open(settings, owner="demo", live_log=True)
    try:
        prepare_demo(stores.main, settings, count=count, seed=seed, echo=click.echo)
        traffic = (
            start_demo_traffic(stores.main, settings, viewers=viewers, seed=seed, echo=click.echo) if viewers else None
        )
        try:
            _run_server(settings, stores)
        finally:
            if traffic is not None:
                traffic.stop()
    finally:
        stores.close()


if __name__ == "__main__":  # pragma: no cover
    main()
