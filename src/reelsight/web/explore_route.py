"""The session explorer: one static page and its assets, served by Reelsight itself at ``/explore``.

The page is plain HTML, CSS and ES modules shipped in the package (``web/explore/``): nothing to
build, nothing fetched from elsewhere. It reads the same API as any client, through the same read
guard and limits; the credentials stay in the browser tab (``sessionStorage``) and travel only in
the ``Authorization`` header, never in a URL. A strict Content-Security-Policy allows nothing but
this origin's own scripts, styles and API.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import NotFound

PATH = "/explore"
ASSETS_PATH = "/explore/assets/{name}"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _load() -> dict[str, bytes]:
    folder = resources.files("reelsight.web").joinpath("explore")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(ext) for ext in _MEDIA_TYPES)
    }


def _links(body: bytes, name: str) -> bool:
    """Whether a file links ``name`` (an ES module import or an ``assets/`` reference)."""
    return f'"./{name}"'.encode() in body or f'"assets/{name}"'.encode() in body


class ExplorePage:
    """The page at ``/explore`` (never cached, so a new release shows at once) and its assets at
    ``/explore/assets/NAME?v=HASH`` (cached for a year: the page links them by content hash)."""

    def __init__(self) -> None:
        files = _load()
        self._etags: dict[str, str] = {}
        # Versioned links, leaves first: a file is rewritten once every file it links is, so an
        # importing module's hash changes with what it imports (the links form no cycle).
        pending = dict(files)
        while pending:
            ready = [n for n, body in pending.items() if not any(_links(body, o) for o in pending if o != n)]
            if not ready:
                raise RuntimeError(f"the explorer's assets link each other in a cycle: {sorted(pending)}")
            for name in ready:
                text = pending.pop(name).decode()
                for other, etag in self._etags.items():
                    text = text.replace(f'"./{other}"', f'"./{other}?v={etag}"')
                    text = text.replace(f'"assets/{other}"', f'"{PATH}/assets/{other}?v={etag}"')
                files[name] = text.encode()
                self._etags[name] = hashlib.sha256(files[name]).hexdigest()[:16]
        self._files = files
        self._page = files["index.html"]

    async def page(self, _request: Request) -> Response:
        headers = {**_SECURITY_HEADERS, "Cache-Control": "no-store"}
        return Response(self._page, media_type=_MEDIA_TYPES[".html"], headers=headers)

    async def asset(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        body = self._files.get(name)
        if body is None or name == "index.html":
            raise NotFound("no such asset")
        versioned = request.query_params.get("v") == self._etags[name]
        cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
        headers = {**_SECURITY_HEADERS, "Cache-Control": cache, "ETag": f'"{self._etags[name]}"'}
        suffix = name[name.rindex(".") :]
        return Response(body, media_type=_MEDIA_TYPES[suffix], headers=headers)
