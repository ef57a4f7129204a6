"""Live parts of a page: each region that can change on its own carries an id and a version (a digest of what it
shows); a live update asks for the page with the versions it holds and gets back only the parts that changed, so
the browser touches nothing else (what is typed, ticked or chosen elsewhere stays as it is). And compression of
what is sent."""

from __future__ import annotations

import gzip
import hashlib
import re

from markupsafe import Markup

HEADER = "x-parts"  # "id=version;id=version": the parts the page holds
_TIMES = re.compile(r"(<time [^>]*data-ago[^>]*>)[^<]*(</time>)")  # relative times age by themselves
_PART = re.compile(r"<!--part:([a-z0-9_-]+)-->(.*?)<!--/part:\1-->", re.S)
_VERSION = re.compile(r'data-version="[0-9a-f]+"')
MIN_GZIP = 1400  # bytes: below a packet, compressing saves nothing


def version(html: str) -> str:
    """A part's version: a digest of its markup, relative times aside (they are refreshed in the browser)."""
    return hashlib.sha256(_TIMES.sub(r"\1\2", str(html)).encode()).hexdigest()[:12]


def wrap(part_id: str, body: str, tag: str = "div", css: str = "", label: str = "") -> Markup:
    """A live part: its element with id and version, its markup between markers (so a reply can leave it out)."""
    attrs = (f' class="{css}"' if css else "") + (f' aria-label="{Markup.escape(label)}"' if label else "")
    return Markup(f'<{tag} id="{part_id}" data-part data-version="{version(body)}"{attrs}>'
                  f"<!--part:{part_id}-->{body}<!--/part:{part_id}--></{tag}>")


def held(header: str | None) -> dict[str, str]:
    """The versions a page says it holds."""
    found = {}
    for item in (header or "").split(";")[:200]:
        key, _, value = item.partition("=")
        if key and value:
            found[key.strip()[:60]] = value.strip()[:20]
    return found


def only_changed(html: str, versions: dict[str, str]) -> str:
    """The page with the markup of every part the browser already holds at this version left out."""
    def keep(match: re.Match) -> str:
        part_id, body = match.group(1), match.group(2)
        if versions.get(part_id) == version(body):
            return f"<!--part:{part_id}--><!--/part:{part_id}-->"
        return match.group(0)

    return _PART.sub(keep, html)


def compressed(body: bytes, accept_encoding: str) -> bytes | None:
    """The body gzipped, when the browser takes gzip and it is worth it."""
    if len(body) < MIN_GZIP or "gzip" not in accept_encoding.lower():
        return None
    return gzip.compress(body, compresslevel=6)
