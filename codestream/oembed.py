"""oEmbed (https://oembed.com) for CodeStream's watch and embed links, so a link unfurls into
the embeddable player. Pure: which link is ours, how big the embed is, and the answer.

Only links of the site (`SiteUrl`) with the path `/watch.html` or `/embed.html` and a stream
id (`#<id>` or `?s=<id>`) are known; anything else is 404, oEmbed's answer for a URL the
provider does not know. The HTML is built from the site, a fixed path and values that passed
their contract patterns, and every attribute is escaped, so nothing of the requested URL or
of the stream's title can leave its attribute.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from codestream.contract import CONTRACT, Contract
from codestream.errors import Code, Refusal

PAGES = ("/watch.html", "/embed.html")
EMBED_PAGE = "/embed.html"
MAX_URL_CHARS = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIZE = re.compile(r"[0-9]{1,9}")


def origin(url: str) -> str | None:
    """`scheme://host[:port]`, lower-cased, without a default port; None unless an absolute
    http(s) URL without user info."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return None
    if split.scheme not in _DEFAULT_PORTS or not split.hostname or "@" in split.netloc:
        return None
    shown = "" if port is None or port == _DEFAULT_PORTS[split.scheme] else f":{port}"
    return f"{split.scheme}://{split.hostname.lower()}{shown}"


@dataclass(frozen=True)
class Link:
    """A stream link of the site, and its deep link (`&t=...`, `&m=...`) if any."""

    stream_id: str
    time: str | None = None  # deepLinkTime: seconds or [h:]m:ss
    marker: str | None = None  # deepLinkMarker: a marker's n

    def fragment(self) -> str:
        parts = [self.stream_id]
        if self.time is not None:
            parts.append(f"t={self.time}")
        if self.marker is not None:
            parts.append(f"m={self.marker}")
        return "&".join(parts)


def parse_link(url: str, site: str, c: Contract = CONTRACT) -> Link | None:
    """The stream a watch or embed link of `site` (an origin) names; None if it is not one."""
    if len(url) > MAX_URL_CHARS or origin(url) != site:
        return None
    split = urlsplit(url)
    if split.path not in PAGES:
        return None
    parts = [unquote(p) for p in split.fragment.split("&")] if split.fragment else []
    query = parse_qs(split.query, keep_blank_values=True)
    if parts and c.stream_id.fullmatch(parts[0]):
        stream_id, params = parts[0], parts[1:]
    else:
        ids = query.get("s", [])
        if len(ids) != 1 or not c.stream_id.fullmatch(ids[0]):
            return None
        stream_id, params = ids[0], parts
    found: dict[str, str] = {}
    for key in ("t", "m"):  # the query's, then the fragment's (which wins)
        if len(query.get(key, [])) == 1:
            found[key] = query[key][0]
    for param in params:
        key, sep, value = param.partition("=")
        if sep and key in ("t", "m"):
            found[key] = value
    time = found.get("t")
    marker = found.get("m")
    return Link(
        stream_id,
        time if time is not None and c.deep_link_time.fullmatch(time) else None,
        marker if marker is not None and c.deep_link_marker.fullmatch(marker) else None,
    )


def embed_size(
    maxwidth: str | None, maxheight: str | None, c: Contract = CONTRACT
) -> tuple[int, int] | Refusal:
    """The default size, made smaller to fit maxwidth and maxheight, keeping 16:9."""
    width = c.replay.oembed_width
    for name, value in (("maxwidth", maxwidth), ("maxheight", maxheight)):
        if value is None:
            continue
        if not _SIZE.fullmatch(value) or int(value) == 0:
            return Refusal(Code.BAD_QUERY, f"{name} must be a positive integer (pixels)")
        bound = int(value) if name == "maxwidth" else int(value) * 16 // 9
        width = min(width, max(bound, 1))
    return width, max(1, width * 9 // 16)


@dataclass(frozen=True)
class EmbedRequest:
    link: Link
    width: int
    height: int


def parse_request(
    query: Mapping[str, str], site: str, c: Contract = CONTRACT
) -> EmbedRequest | Refusal:
    """Checks in this order: format (json only), url present, sizes, url known."""
    format_ = query.get("format", "json")
    if format_ != "json":
        return Refusal(Code.FORMAT_NOT_SUPPORTED, "only format=json is supported")
    url = query.get("url", "")
    if not url:
        return Refusal(Code.BAD_QUERY, "url is required: a CodeStream watch or embed link")
    size = embed_size(query.get("maxwidth"), query.get("maxheight"), c)
    if isinstance(size, Refusal):
        return size
    link = parse_link(url, site, c)
    if link is None:
        msg = f"not a CodeStream link of {site}: {site}/watch.html#<streamId> or /embed.html"
        return Refusal(Code.UNKNOWN_URL, msg)
    return EmbedRequest(link, *size)


def display_title(title: str | None, c: Contract = CONTRACT) -> str:
    """The stream's title fit for any document: controls and lone surrogates become U+FFFD;
    no title (or only spaces) is the default one."""
    if title is None or not title.strip():
        return c.replay.oembed_default_title
    return "".join("\ufffd" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in title)


def iframe_html(src: str, width: int, height: int, title: str, c: Contract = CONTRACT) -> str:
    def attr(value: object) -> str:
        return html.escape(str(value), quote=True)

    return (
        f'<iframe src="{attr(src)}" width="{attr(width)}" height="{attr(height)}" '
        f'loading="lazy" title="{attr(f"{c.replay.oembed_provider}: {title}")}" '
        'style="border:0" allow="clipboard-write"></iframe>'
    )


def oembed_document(
    site: str, request: EmbedRequest, title: str | None, c: Contract = CONTRACT
) -> dict[str, Any]:
    shown = display_title(title, c)
    src = f"{site}{EMBED_PAGE}#{request.link.fragment()}"
    return {
        "version": "1.0",
        "type": "rich",
        "provider_name": c.replay.oembed_provider,
        "provider_url": site,
        "title": shown,
        "width": request.width,
        "height": request.height,
        "html": iframe_html(src, request.width, request.height, shown, c),
    }
