"""Real web players (hls.js, dash.js, Shaka) in headless Chromium, reporting CMCD v2 to a collector.

The pieces, all on loopback:

* ``make_test_stream(dir)``: ffmpeg renders a 60 s VoD test pattern (testsrc2 + a sine tone) in three
  renditions (320x180 @ 300 kb/s, 480x270 @ 800 kb/s, 640x360 @ 2000 kb/s, AAC 64 kb/s audio),
  2 s fMP4 segments, packaged once with ffmpeg's dash muxer into ``manifest.mpd`` *and* an HLS
  ``master.m3u8`` over the same segment files. Cached: a complete stream in ``dir`` is reused.
* ``StreamServer(stream)``: a threaded HTTP server on 127.0.0.1 serving the test pages
  (``tests/cmcd/*.html``), the players' dist files (``tests/cmcd/node_modules``) and the stream under
  ``/stream/<tag>/...`` (``tag`` is free text that tells concurrent runs apart in the request log and
  in the fault rules). Faults: ``stall(pattern, seconds)`` holds a segment response,
  ``missing_manifest(pattern)`` answers 404 for manifests. Every answer carries CORS headers.
* ``run_scenarios([...])``: ``tests/cmcd/run.mjs`` (playwright-core) opens one page per scenario in
  one headless Chromium, runs its steps and returns each page's ``window.truth`` (what the media
  element observed, see the header of ``tests/cmcd/truth.js``) and its console errors.
* ``main_scenario`` / ``abandon_scenario`` / ``missing_manifest_scenario`` build the standard runs and
  arm the server's faults for them.

The pages configure each player for CMCD v2 event mode as in shared/reference/cmcd-v2-players.md
(events ps, e, t, bc, rr; ``interval`` 5 s; batchSize 1; dash.js with an explicit enabledKeys list),
posting to the collector URL given (``.../ingest/cmcd/v2?key=INGEST_KEY``). The page origin is the
stream server, so the collector on another port is cross-origin: it must answer the CORS preflight.

Typical use (in a test module, take the session fixtures by assignment, not by import, so ruff's
F811 does not fire: ``cmcd_stream = cmcd_browser.cmcd_stream``, ``cmcd_server = cmcd_browser.cmcd_server``)::

    ensure_players()
    stream = make_test_stream(tmp_dir)
    with StreamServer(stream) as server:
        runs = run_scenarios([main_scenario(server, p, collector_url=url) for p in PLAYERS])
    truth = runs["hls-main"]["truth"]          # window.truth at close, totals in truth["totals"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.server
import json
import mimetypes
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests import npm_packages

CMCD_DIR = Path(__file__).resolve().parent / "cmcd"
RUNNER = CMCD_DIR / "run.mjs"
PLAYERS = ("hls", "dash", "shaka")
PACKAGES = {
    "hls.js": "1.7.4",
    "dashjs": "5.2.1",
    "shaka-player": "5.2.12",
    "playwright-core": "1.65.1",
    "@svta/cml-cmcd": "2.7.0",  # the reference decoder, an oracle for ours (tests/test_cmcd_captures.py)
}
INSTALL_HINT = "apt-get install chromium ffmpeg nodejs npm"
NODE_MIN_MAJOR = 20  # playwright-core 1.65 and dashjs 5.2 declare engines node >= 20

# The test stream. Bump STREAM_VERSION when the ffmpeg recipe changes (invalidates cached streams).
STREAM_VERSION = 1
STREAM_DURATION_S = 60
SEGMENT_S = 2
FPS = 25


@dataclasses.dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    kbps: int


RENDITIONS = (Rendition(320, 180, 300), Rendition(480, 270, 800), Rendition(640, 360, 2000))
AUDIO_KBPS = 64


# --------------------------------------------------------------------------------------------- tools


def tool(name: str, *alternatives: str) -> str:
    """Path of a program on PATH, or AssertionError naming the Debian packages to install."""
    hint = (
        f"the CMCD browser tests need Chromium, ffmpeg, Node.js >= {NODE_MIN_MAJOR} and npm (Debian: `{INSTALL_HINT}`)"
    )
    return npm_packages.tool(name, *alternatives, hint=hint)


def chromium_path() -> str:
    return os.environ.get("REELSIGHT_CHROMIUM") or tool("chromium", "chromium-browser")


def ensure_players() -> Path:
    """Check Chromium, ffmpeg and Node.js; `npm ci` the pinned players if needed; return tests/cmcd.

    Never skips: a missing tool is an AssertionError that names the packages to install.
    """
    chromium_path()
    tool("ffmpeg")
    node = tool("node")
    proc = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False)
    match = re.match(r"v(\d+)\.", proc.stdout.strip())
    if match is None or int(match.group(1)) < NODE_MIN_MAJOR:
        raise AssertionError(
            f"Node.js {proc.stdout.strip() or '?'} is too old: playwright-core and dashjs need Node.js >= "
            f"{NODE_MIN_MAJOR} (Debian 12's own nodejs is 18; install a newer nodejs)"
        )
    npm_packages.ensure_installed(CMCD_DIR, PACKAGES, hint=INSTALL_HINT)
    return CMCD_DIR


# -------------------------------------------------------------------------------------------- stream


@dataclasses.dataclass(frozen=True)
class TestStream:
    """A packaged test stream on disk: ``root/master.m3u8`` (HLS) and ``root/manifest.mpd`` (DASH)."""

    __test__ = False  # not a pytest test class

    root: Path
    duration_s: float = STREAM_DURATION_S
    segment_s: float = SEGMENT_S
    renditions: tuple[Rendition, ...] = RENDITIONS
    hls_manifest: str = "master.m3u8"
    dash_manifest: str = "manifest.mpd"

    @property
    def segment_count(self) -> int:
        return int(self.duration_s // self.segment_s)

    def manifest_for(self, player: str) -> str:
        return self.hls_manifest if player == "hls" else self.dash_manifest

    def segment_pattern(self, number: int) -> str:
        """Regex matching segment ``number`` (1-based; covers [2(n-1), 2n) s) of every rendition and audio."""
        return rf"/seg-\d+-{number:05d}\.m4s$"


def _ffmpeg_args(duration_s: int) -> list[str]:
    n = len(RENDITIONS)
    split = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n))
    scales = ";".join(f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(RENDITIONS))
    args = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={RENDITIONS[-1].width}x{RENDITIONS[-1].height}:rate={FPS}:duration={duration_s}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={duration_s}",
        "-filter_complex",
        f"{split};{scales}",
    ]
    for i in range(n):
        args += ["-map", f"[v{i}]"]
    args += ["-map", "1:a"]
    gop = FPS * SEGMENT_S
    args += [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-x264-params",
        "scenecut=0:open_gop=0",
    ]
    for i, r in enumerate(RENDITIONS):
        args += [
            f"-b:v:{i}",
            f"{r.kbps}k",
            f"-maxrate:v:{i}",
            f"{r.kbps * 11 // 10}k",
            f"-bufsize:v:{i}",
            f"{r.kbps * 2}k",
        ]
    args += ["-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2"]
    args += [
        "-f",
        "dash",
        "-seg_duration",
        str(SEGMENT_S),
        "-use_template",
        "1",
        "-use_timeline",
        "1",
        "-hls_playlist",
        "1",
        "-adaptation_sets",
        "id=0,streams=v id=1,streams=a",
        "-init_seg_name",
        "init-$RepresentationID$.m4s",
        "-media_seg_name",
        "seg-$RepresentationID$-$Number%05d$.m4s",
        "manifest.mpd",
    ]
    return args


def make_test_stream(directory: Path, *, duration_s: int = STREAM_DURATION_S) -> TestStream:
    """Render and package the test stream into ``directory`` (reused when already complete there).

    Takes about 5 s on two cores. ``directory`` gets ``manifest.mpd``, ``master.m3u8``,
    ``media_<n>.m3u8``, ``init-<n>.m4s`` and ``seg-<n>-<NNNNN>.m4s`` (representations 0-2 video, 3 audio)
    and ``stream.json`` (the recipe, written last: its presence means complete).
    """
    args = _ffmpeg_args(duration_s)
    recipe = {
        "version": STREAM_VERSION,
        "duration_s": duration_s,
        "args_sha1": hashlib.sha1(  # noqa: S324
            json.dumps(args).encode()
        ).hexdigest(),
    }
    directory = Path(directory)
    stream = TestStream(root=directory, duration_s=duration_s)
    marker = directory / "stream.json"
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == recipe:
            return stream
    except (OSError, ValueError):
        pass
    ffmpeg = tool("ffmpeg")
    directory.mkdir(parents=True, exist_ok=True)
    work = directory.parent / f".{directory.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    proc = subprocess.run([ffmpeg, *args], cwd=work, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0 or not (work / "master.m3u8").is_file() or not (work / "manifest.mpd").is_file():
        raise AssertionError(f"ffmpeg could not make the CMCD test stream (exit {proc.returncode}):\n{proc.stderr}")
    for old in directory.iterdir():
        if old.is_file():
            old.unlink()
    for new in work.iterdir():
        os.replace(new, directory / new.name)
    work.rmdir()
    marker.write_text(json.dumps(recipe), encoding="utf-8")
    return stream


# -------------------------------------------------------------------------------------------- server


@dataclasses.dataclass
class Request:
    """One request the stream server answered (``ts`` epoch ms when it arrived)."""

    ts: int
    method: str
    path: str
    query: str
    status: int
    held_s: float = 0.0


@dataclasses.dataclass
class _Stall:
    pattern: re.Pattern[str]
    seconds: float
    deadline: float | None = None  # monotonic; set by the first matching request
    hits: int = 0


_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
}
_PAGE_FILES = {"hls.html", "dash.html", "shaka.html", "truth.js"}
_DIST_PACKAGES = {"hls.js", "dashjs", "shaka-player"}
_TAG = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))


class StreamServer:
    """Threaded HTTP server on 127.0.0.1 for the pages, the players' dist files and the test stream.

    URL space: ``/hls.html`` ``/dash.html`` ``/shaka.html`` ``/truth.js``; ``/node_modules/<hls.js|dashjs|
    shaka-player>/dist/...``; ``/stream/<tag>/<file>`` (any tag, same files). Query strings (the
    players' request-mode ``CMCD=``) are ignored but logged. Faults match the request path (no query):

    * ``stall(pattern, seconds)``: the first request whose path matches starts a hold of ``seconds``;
      it and every other matching request that arrives before the hold ends are answered only when it
      ends (so an ABR abort-and-retry of the same segment in another rendition is held too). One shot.
    * ``missing_manifest(pattern="")``: manifests (``.m3u8``/``.mpd``) whose path matches answer 404.

    ``pattern`` is a substring or a compiled regex. ``requests`` lists every answered request.
    """

    def __init__(self, stream: TestStream, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._stalls: list[_Stall] = []
        self._missing: list[re.Pattern[str]] = []
        self._stopping = threading.Event()
        self.requests: list[Request] = []
        self._httpd = http.server.ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StreamServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="cmcd-stream", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults
    def stall(self, path_substring: str | re.Pattern[str], seconds: float) -> None:
        with self._lock:
            self._stalls.append(_Stall(_compile(path_substring), seconds))

    def missing_manifest(self, path_substring: str | re.Pattern[str] = "") -> None:
        with self._lock:
            self._missing.append(_compile(path_substring))

    def reset(self) -> None:
        """Drop all fault rules (the request log stays)."""
        with self._lock:
            self._stalls.clear()
            self._missing.clear()

    # -- URLs
    def manifest_url(self, player: str, tag: str) -> str:
        return f"{self.base_url}/stream/{tag}/{self.stream.manifest_for(player)}"

    def page_url(
        self,
        player: str,
        *,
        collector_url: str,
        content_id: str,
        session_id: str,
        tag: str,
        interval_s: float = 5,
        batch_size: int = 1,
        buffer_s: float = 4,
        build: str | None = None,
        dash_keys: Sequence[str] | None = None,
    ) -> str:
        """URL of ``tests/cmcd/<player>.html`` playing ``/stream/<tag>/...`` and reporting to ``collector_url``.

        ``buffer_s`` caps the player's forward buffer (hls.js maxBufferLength, dash.js bufferTime*,
        Shaka bufferingGoal) so that a held segment really starves playback; 0 keeps the player's
        default. ``build`` "min"/"debug" picks the dist file (defaults: hls.js and dash.js minified,
        Shaka debug, see the reference note on Shaka's minified build). ``dash_keys`` replaces the
        dash.js target's enabledKeys (default sid cid sta br bl mtp e ts sn v sf st ec msd).
        """
        if player not in PLAYERS:
            raise ValueError(f"unknown player {player!r}, expected one of {PLAYERS}")
        if not _TAG.match(tag):
            raise ValueError(f"bad tag {tag!r}")
        query = {
            "manifest": self.manifest_url(player, tag),
            "collector": collector_url,
            "cid": content_id,
            "sid": session_id,
            "interval": f"{interval_s:g}",
            "batch": str(batch_size),
            "buffer": f"{buffer_s:g}",
        }
        if build:
            query["build"] = build
        if dash_keys is not None and player == "dash":
            query["keys"] = ",".join(dash_keys)
        return f"{self.base_url}/{player}.html?{urllib.parse.urlencode(query)}"

    def requests_for(self, tag: str) -> list[Request]:
        prefix = f"/stream/{tag}/"
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    # -- serving
    def _resolve(self, path: str) -> tuple[Path | None, bool]:
        """File for a request path, and whether it is a manifest of the stream."""
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if any(p in ("..", ".") or "\\" in p for p in parts):
            return None, False
        if len(parts) == 1 and parts[0] in _PAGE_FILES:
            return CMCD_DIR / parts[0], False
        if len(parts) >= 4 and parts[0] == "node_modules" and parts[1] in _DIST_PACKAGES and parts[2] == "dist":
            return CMCD_DIR.joinpath(*parts), False
        if len(parts) == 3 and parts[0] == "stream" and _TAG.match(parts[1]) and parts[2] != "stream.json":
            name = parts[2]
            return self.stream.root / name, name.endswith((".m3u8", ".mpd"))
        return None, False

    def _hold_for(self, path: str) -> float:
        """Seconds to hold this response (0 if no stall rule matches); arms a matching rule's clock."""
        now = time.monotonic()
        with self._lock:
            for rule in self._stalls:
                if not rule.pattern.search(path):
                    continue
                if rule.deadline is None:
                    rule.deadline = now + rule.seconds
                if now < rule.deadline:
                    rule.hits += 1
                    return rule.deadline - now
        return 0.0

    def _is_missing(self, path: str) -> bool:
        with self._lock:
            return any(p.search(path) for p in self._missing)

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.send_header("Access-Control-Expose-Headers", "*")

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self._cors()
                self.send_header("Content-Length", "0")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def do_OPTIONS(self) -> None:
                self._empty(204)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, *, body: bool) -> None:
                ts = int(time.time() * 1000)
                split = urllib.parse.urlsplit(self.path)
                path, query = split.path, split.query
                file, is_manifest = server._resolve(path)
                if file is None or not file.is_file() or (is_manifest and server._is_missing(path)):
                    server._log(Request(ts, self.command, path, query, 404))
                    self._empty(404)
                    return
                held = server._hold_for(path)
                if held > 0:
                    server._stopping.wait(held)
                data = file.read_bytes()
                status, start, end = 200, 0, len(data)
                byte_range = self.headers.get("Range")
                match = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range.strip()) if byte_range else None
                if match and (match.group(1) or match.group(2)):
                    if match.group(1):
                        start = int(match.group(1))
                        end = min(len(data), int(match.group(2)) + 1) if match.group(2) else len(data)
                    else:
                        start = max(0, len(data) - int(match.group(2)))
                    status = 206
                server._log(Request(ts, self.command, path, query, status, round(held, 3)))
                self.send_response(status)
                self._cors()
                content_type = (
                    _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                )
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Cache-Control", "no-store")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if body:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(data[start:end])

        return Handler


# ------------------------------------------------------------------------------------------ scenarios


@dataclasses.dataclass
class Scenario:
    """One page to open: ``steps`` as in the header of tests/cmcd/run.mjs."""

    name: str
    player: str
    url: str
    steps: list[list[Any]]
    content_id: str
    session_id: str
    tag: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "steps": self.steps}


def _ids(
    player: str, kind: str, tag: str | None, content_id: str | None, session_id: str | None
) -> tuple[str, str, str]:
    suffix = uuid.uuid4().hex[:6]
    return (
        tag or f"{player}-{kind}-{suffix}",
        content_id or f"cmcd-{player}-{kind}-{suffix}",
        session_id or str(uuid.uuid4()),
    )


def main_scenario(
    server: StreamServer,
    player: str,
    *,
    collector_url: str,
    tag: str | None = None,
    content_id: str | None = None,
    session_id: str | None = None,
    pause_at_s: float = 5,
    resume_at_s: float = 8,
    stall_segment: int = 6,
    stall_hold_s: float = 7,
    seek_at_s: float = 20,
    seek_to_s: float = 50,
    interval_s: float = 5,
    **page_options: Any,
) -> Scenario:
    """Play ~5 s, pause 3 s, a server-side stall, seek forward, play to the end, destroy the player.

    The stall: the response of segment ``stall_segment`` (6 = content 10-12 s; any rendition and the
    audio) is held ``stall_hold_s`` from its first request. With the page's 4 s forward buffer the
    element then starves for about ``stall_hold_s`` - 4 s (measured 3.1-4.1 s with the default 7 s)
    at content ~10-11 s, page time ~14 s. At ``seek_at_s`` (page time) a seek to ``seek_to_s``, play
    to the end (``ended``, page time ~31 s), ``destroy`` 1 s later (flushes the CMCD reporter),
    close 1.5 s after that: ~33 s in the page, ~35 s with the browser's start.
    """
    tag, cid, sid = _ids(player, "main", tag, content_id, session_id)
    server.stall(re.compile(rf"^/stream/{re.escape(tag)}" + server.stream.segment_pattern(stall_segment)), stall_hold_s)
    url = server.page_url(
        player,
        collector_url=collector_url,
        content_id=cid,
        session_id=sid,
        tag=tag,
        interval_s=interval_s,
        **page_options,
    )
    remaining = server.stream.duration_s - seek_to_s
    steps: list[list[Any]] = [
        [pause_at_s, "pause"],
        [resume_at_s, "play"],
        [seek_at_s, "seek", seek_to_s],
        [seek_at_s, "wait_for", ["ended", "error"], remaining + 10],
        ["+1", "destroy"],
        ["+1.5", "close"],
    ]
    return Scenario(f"{player}-main", player, url, steps, cid, sid, tag)


def abandon_scenario(
    server: StreamServer,
    player: str,
    *,
    collector_url: str,
    tag: str | None = None,
    content_id: str | None = None,
    session_id: str | None = None,
    close_at_s: float = 8,
    interval_s: float = 5,
    **page_options: Any,
) -> Scenario:
    """Play ``close_at_s`` seconds, then close the page (no destroy: the players send nothing on close)."""
    tag, cid, sid = _ids(player, "abandon", tag, content_id, session_id)
    url = server.page_url(
        player,
        collector_url=collector_url,
        content_id=cid,
        session_id=sid,
        tag=tag,
        interval_s=interval_s,
        **page_options,
    )
    return Scenario(f"{player}-abandon", player, url, [[close_at_s, "close"]], cid, sid, tag)


def missing_manifest_scenario(
    server: StreamServer,
    player: str,
    *,
    collector_url: str,
    tag: str | None = None,
    content_id: str | None = None,
    session_id: str | None = None,
    linger_s: float = 6,
    interval_s: float = 5,
    **page_options: Any,
) -> Scenario:
    """The manifest answers 404; wait for the page's fatal error (max 10 s), keep the page ``linger_s``
    more (so a `t` report after the error can arrive), then close it."""
    tag, cid, sid = _ids(player, "404", tag, content_id, session_id)
    server.missing_manifest(re.compile(rf"^/stream/{re.escape(tag)}/"))
    url = server.page_url(
        player,
        collector_url=collector_url,
        content_id=cid,
        session_id=sid,
        tag=tag,
        interval_s=interval_s,
        **page_options,
    )
    steps: list[list[Any]] = [[0, "wait_for", ["error"], 10], [f"+{linger_s:g}", "close"]]
    return Scenario(f"{player}-404", player, url, steps, cid, sid, tag)


def run_scenarios(
    scenarios: Sequence[Scenario], *, timeout_s: float | None = None, chromium: str | None = None
) -> dict[str, dict[str, Any]]:
    """Open every scenario's page concurrently in one headless Chromium; return results by name.

    Each result (see tests/cmcd/run.mjs): ``truth`` (window.truth at close, with ``totals``),
    ``console_errors``, ``page_errors``, ``requests_failed``, ``steps`` (with the epoch ms each ran),
    ``nav_ts``/``closed_ts`` (epoch ms), ``wall_s``; plus ``scenario`` (the Scenario) and
    ``browser`` (Chromium's version). Raises AssertionError if the runner fails or a page crashed.
    """
    ensure_players()
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique: {names}")
    if timeout_s is None:
        timeout_s = 60 + max((_planned_s(s) for s in scenarios), default=0)
    payload = {
        "chromium": chromium or chromium_path(),
        "timeout_s": timeout_s,
        "pages": [s.to_json() for s in scenarios],
    }
    proc = subprocess.run(
        [tool("node"), str(RUNNER)],
        cwd=CMCD_DIR,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"tests/cmcd/run.mjs exited {proc.returncode}\n--- stderr ---\n{proc.stderr}\n"
            f"--- stdout ---\n{proc.stdout[:4000]}"
        )
    output = json.loads(proc.stdout)
    results: dict[str, dict[str, Any]] = {}
    by_name = {s.name: s for s in scenarios}
    for page in output["pages"]:
        if "crash" in page:
            raise AssertionError(f"page {page['name']} crashed in run.mjs:\n{page['crash']}")
        page["scenario"] = by_name[page["name"]]
        page["browser"] = output.get("browser")
        results[page["name"]] = page
    return results


def _planned_s(scenario: Scenario) -> float:
    """Upper bound of a scenario's wall time from its steps (wait_for counted at its timeout)."""
    total = 0.0
    for step in scenario.steps:
        at = step[0]
        total = total + float(at[1:]) if isinstance(at, str) else max(total, float(at))
        if step[1] == "wait_for":
            total += float(step[3]) if len(step) > 3 else 60
    return total


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def cmcd_stream(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TestStream:
    """The packaged test stream, made once (kept in the pytest cache across runs when it is enabled)."""
    ensure_players()
    cache = getattr(request.config, "cache", None)
    directory = (
        cache.mkdir(f"cmcd-stream-v{STREAM_VERSION}") if cache is not None else tmp_path_factory.mktemp("cmcd-stream")
    )
    return make_test_stream(Path(directory))


@pytest.fixture(scope="session")
def cmcd_server(cmcd_stream: TestStream) -> Iterator[StreamServer]:
    """A running StreamServer for the session (fault rules are per tag; call ``reset()`` if needed)."""
    with StreamServer(cmcd_stream) as server:
        yield server
