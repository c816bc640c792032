"""oEmbed: which links are CodeStream's, the embed size, the order of the checks, and the
exact answer, with every attribute of its HTML escaped (hostile titles included)."""

from __future__ import annotations

import html.parser
import json

import pytest

from codestream.errors import Code, Refusal
from codestream.oembed import (
    EmbedRequest,
    Link,
    display_title,
    embed_size,
    iframe_html,
    oembed_document,
    origin,
    parse_link,
    parse_request,
)

SITE = "https://stapp-x.azurestaticapps.net"
SID = "abcdefghijkl0001"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Stapp-X.azurestaticapps.net/watch.html", SITE),
        ("https://stapp-x.azurestaticapps.net:443/x", SITE),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("https://evil@stapp-x.azurestaticapps.net/", None),
        ("ftp://stapp-x.azurestaticapps.net/", None),
        ("https://host:99999/", None),
        ("//stapp-x.azurestaticapps.net/watch.html", None),
        ("watch.html", None),
        ("", None),
    ],
)
def test_origin(url: str, expected: str | None) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{SITE}/watch.html#{SID}", Link(SID)),
        (f"{SITE}/embed.html#{SID}", Link(SID)),
        (f"{SITE}/watch.html?s={SID}", Link(SID)),
        (f"{SITE.upper().replace('HTTPS', 'https')}/watch.html#{SID}", Link(SID)),
        (f"{SITE}:443/watch.html#{SID}", Link(SID)),
        (f"{SITE}/watch.html#{SID}&t=12:30", Link(SID, time="12:30")),
        (f"{SITE}/watch.html#{SID}&t=750", Link(SID, time="750")),
        (f"{SITE}/watch.html#{SID}&t=1:02:03", Link(SID, time="1:02:03")),
        (f"{SITE}/watch.html#{SID}&t=12%3A30", Link(SID, time="12:30")),
        (f"{SITE}/watch.html#{SID}&m=3", Link(SID, marker="3")),
        (f"{SITE}/watch.html#{SID}&t=5&m=2", Link(SID, time="5", marker="2")),
        (f"{SITE}/watch.html?s={SID}#t=5", Link(SID, time="5")),
        (f"{SITE}/watch.html?s={SID}&m=4", Link(SID, marker="4")),
        # deep-link values that do not match their patterns are dropped, not passed on
        (f'{SITE}/watch.html#{SID}&t="><script>', Link(SID)),
        (f"{SITE}/watch.html#{SID}&t=-5&m=0", Link(SID)),
        (f"{SITE}/watch.html#{SID}&m=1e3&x=1", Link(SID)),
    ],
)
def test_links_of_the_site(url: str, expected: Link) -> None:
    assert parse_link(url, SITE) == expected


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example/watch.html#{SID}",
        f"http://stapp-x.azurestaticapps.net/watch.html#{SID}",  # another scheme: another origin
        f"{SITE}:8443/watch.html#{SID}",
        f"https://x@stapp-x.azurestaticapps.net/watch.html#{SID}",
        f"{SITE}/index.html#{SID}",
        f"{SITE}/watch.html/#{SID}",
        f"{SITE}/WATCH.HTML#{SID}",
        f"{SITE}/api/streams/{SID}",
        f"{SITE}/watch.html",
        f"{SITE}/watch.html#short",
        f"{SITE}/watch.html#{SID}!",
        f"{SITE}/watch.html?s={SID}&s={SID}",
        f"{SITE}/watch.html?s=bad",
        f"{SITE}/watch.html#{'a' * 33}",
        f"{SITE}/watch.html#{SID}" + "&t=1" * 600,  # over 2,048 characters
        "javascript:alert(1)",
        "",
    ],
)
def test_other_urls_are_unknown(url: str) -> None:
    assert parse_link(url, SITE) is None


@pytest.mark.parametrize(
    ("maxwidth", "maxheight", "expected"),
    [
        (None, None, (800, 450)),
        ("1000", "1000", (800, 450)),  # the default is the largest
        ("640", None, (640, 360)),
        (None, "360", (640, 360)),
        ("500", "360", (500, 281)),
        ("640", "100", (177, 99)),
        ("1", None, (1, 1)),
        ("800", "450", (800, 450)),
        ("000640", None, (640, 360)),
    ],
)
def test_embed_sizes_keep_16_9_within_the_bounds(
    maxwidth: str | None, maxheight: str | None, expected: tuple[int, int]
) -> None:
    size = embed_size(maxwidth, maxheight)
    assert size == expected
    assert isinstance(size, tuple)
    if maxwidth:
        assert size[0] <= int(maxwidth)
    if maxheight:
        assert size[1] <= int(maxheight)


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", "", " 640", "1e3", "9" * 10])
def test_bad_sizes_are_bad_query(bad: str) -> None:
    for args in ((bad, None), (None, bad)):
        refused = embed_size(*args)
        assert isinstance(refused, Refusal)
        assert refused.code == Code.BAD_QUERY


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"format": "xml", "url": f"{SITE}/watch.html#{SID}"}, Code.FORMAT_NOT_SUPPORTED),
        ({"format": "xml"}, Code.FORMAT_NOT_SUPPORTED),  # format is checked first
        ({"format": "yaml", "url": "x"}, Code.FORMAT_NOT_SUPPORTED),
        ({}, Code.BAD_QUERY),
        ({"url": ""}, Code.BAD_QUERY),
        ({"url": "https://evil.example/", "maxwidth": "x"}, Code.BAD_QUERY),  # sizes, then url
        ({"url": "https://evil.example/"}, Code.UNKNOWN_URL),
        ({"url": f"{SITE}/watch.html"}, Code.UNKNOWN_URL),
    ],
)
def test_request_refusals_in_order(query: dict[str, str], code: Code) -> None:
    refused = parse_request(query, SITE)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.status) == (
        code,
        {Code.FORMAT_NOT_SUPPORTED: 501, Code.BAD_QUERY: 400, Code.UNKNOWN_URL: 404}[code],
    )


def test_the_answer_is_exact() -> None:
    request = parse_request(
        {"url": f"{SITE}/watch.html#{SID}&t=1:05", "format": "json", "maxwidth": "640"}, SITE
    )
    assert isinstance(request, EmbedRequest)
    assert oembed_document(SITE, request, "Step 2") == {
        "version": "1.0",
        "type": "rich",
        "provider_name": "CodeStream",
        "provider_url": SITE,
        "title": "Step 2",
        "width": 640,
        "height": 360,
        "html": (
            f'<iframe src="{SITE}/embed.html#{SID}&amp;t=1:05" width="640" height="360" '
            'loading="lazy" title="CodeStream: Step 2" style="border:0" '
            'allow="clipboard-write"></iframe>'
        ),
    }


class _Iframes(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


HOSTILE = [
    '"><script>alert(1)</script>',
    "' onload='alert(1)",
    "a&amp;b &lt; <b>bold</b>",
    '" srcdoc="<script>alert(1)</script>',
    "</iframe><img src=x onerror=alert(1)>",
    "`${x}` \\ \" ' < > &",
    "tab\tnew\nline\x00nul\x1b[31m",
    "\ud800 lone \udfff surrogates",
    "😀 émoji ✓ 日本語",
]


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_stay_in_their_attribute(title: str) -> None:
    request = EmbedRequest(Link(SID), 800, 450)
    document = oembed_document(SITE, request, title)
    shown = display_title(title)
    assert document["title"] == shown
    parser = _Iframes()
    parser.feed(document["html"])
    assert parser.tags == [
        (
            "iframe",
            {
                "src": f"{SITE}/embed.html#{SID}",
                "width": "800",
                "height": "450",
                "loading": "lazy",
                "title": f"CodeStream: {shown}",
                "style": "border:0",
                "allow": "clipboard-write",
            },
        )
    ]
    assert document["html"].count("<") == 2  # <iframe ...> and </iframe>, nothing of the title
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # no lone surrogate left


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        (None, "Live code"),
        ("", "Live code"),
        ("   ", "Live code"),
        ("Demo", "Demo"),
        ("a\x00b\ud800", "a\ufffdb\ufffd"),
    ],
)
def test_display_titles(title: str | None, shown: str) -> None:
    assert display_title(title) == shown


def test_every_attribute_is_escaped() -> None:
    out = iframe_html('https://x/"a&b', 1, 2, "<t>")
    assert 'src="https://x/&quot;a&amp;b"' in out
    assert 'title="CodeStream: &lt;t&gt;"' in out
