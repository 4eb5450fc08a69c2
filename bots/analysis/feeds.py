"""News feeds (RSS 0.9x/1.0/2.0 and Atom) parsed into plain headlines: pure Python, no Django.

Fetching is someone else's job: ``parse_feed`` takes the bytes a fetcher downloaded and never
raises, whatever they are. A feed that is broken but readable keeps the entries feedparser
recovered and says what is wrong in ``ParsedFeed.problem``; something that is not a feed at all
(an HTML error page, an empty body, random bytes) gives no headlines and a problem in words, so
the admin can show why a configured feed yields nothing.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from xml.sax import SAXParseException

import feedparser

__all__ = ["Headline", "ParsedFeed", "parse_feed"]


@dataclass(frozen=True)
class Headline:
    title: str
    summary: str  # plain text: tags stripped, entities decoded, whitespace collapsed
    link: str
    published: datetime | None  # aware UTC
    guid: str  # the dedupe key: entry id, else link, else a hash of title and date


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    headlines: list[Headline]  # newest first (undated last), one per guid
    problem: str  # "" when the feed is fine


# Benign bozo reasons: we get bytes without the HTTP headers feedparser would check them against,
# and an encoding declaration feedparser had to override still parsed into correct text.
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_OLDEST = datetime.min.replace(tzinfo=UTC)


def parse_feed(content: bytes, *, url: str = "") -> ParsedFeed:
    """Parse an RSS or Atom document; ``url`` (where it came from) resolves relative links."""
    # A BytesIO, never the bytes themselves: feedparser.parse treats a bare string that looks
    # like a URL or a file path as something to fetch or open.
    headers = {"content-type": "application/xml"}
    if url:
        headers["content-location"] = url
    try:
        parsed = feedparser.parse(io.BytesIO(content or b""), response_headers=headers)
        headlines = _newest_first_unique(_headlines(parsed.entries))
        title = _plain_text(parsed.feed.get("title"))
    except Exception as error:  # untrusted input: one odd feed must not stop the others
        return ParsedFeed(title="", headlines=[], problem=f"could not read the feed: {error}")
    problem = _problem(parsed, content, headlines)
    return ParsedFeed(title=title, headlines=headlines, problem=problem)


def _headlines(entries) -> list[Headline]:
    headlines = []
    for entry in entries:
        title = _plain_text(entry.get("title"))
        if not title:  # nothing to match or score
            continue
        published = _published(entry)
        link = (entry.get("link") or "").strip()
        guid = (entry.get("id") or "").strip() or link or _fingerprint(title, published)
        headlines.append(Headline(title=title, summary=_plain_text(_summary_html(entry)),
                                  link=link, published=published, guid=guid))
    return headlines


def _newest_first_unique(headlines: list[Headline]) -> list[Headline]:
    # The sort is stable, so among copies of one guid the newest (then the first written) wins:
    # a feed that republishes an updated entry keeps its latest version.
    ordered = sorted(headlines, key=lambda h: h.published or _OLDEST, reverse=True)
    seen: set[str] = set()
    unique = []
    for headline in ordered:
        if headline.guid not in seen:
            seen.add(headline.guid)
            unique.append(headline)
    return unique


def _summary_html(entry) -> str:
    # Atom entries may carry only <content>; feedparser leaves ``summary`` unset then.
    if entry.get("summary"):
        return entry["summary"]
    contents = entry.get("content") or []
    return contents[0].get("value", "") if contents else ""


def _published(entry) -> datetime | None:
    # feedparser normalises every date format it understands to a UTC struct_time.
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _fingerprint(title: str, published: datetime | None) -> str:
    stamp = published.isoformat() if published else ""
    return "sha256:" + hashlib.sha256(f"{title}\n{stamp}".encode()).hexdigest()


def _problem(parsed, content: bytes, headlines: list[Headline]) -> str:
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(error, _HARMLESS_BOZO):
        error = None
    if not parsed.get("version") and not headlines:
        return "not an RSS or Atom feed: " + _why_not_a_feed(content, error)
    if error is None:
        return ""
    kept = f"{len(headlines)} headline{'' if len(headlines) == 1 else 's'}"
    return f"malformed feed ({_describe(error)}); kept the {kept} that could be read"


def _why_not_a_feed(content: bytes, error: BaseException | None) -> str:
    if not (content or b"").strip():
        return "the content is empty"
    if re.match(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)\b", content[:2048], re.I | re.S):
        return "it is an HTML page (is the URL a web page rather than its feed?)"
    if error is not None:
        return _describe(error)
    return "the document has no <rss>, <feed> or RDF root element"


def _describe(error: BaseException) -> str:
    # No line numbers: feedparser rewrites the XML declaration before parsing, so SAX positions
    # do not match the bytes the admin would look at.
    if isinstance(error, SAXParseException):
        return f"XML error: {error.getMessage()}"
    return str(error) or type(error).__name__


class _TextExtractor(HTMLParser):
    # Block elements separate words; inline ones (<b>Bit</b>coin) must not split them.
    BLOCKS = frozenset({
        "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "li", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    })
    HIDDEN = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag, attrs):
        self._boundary(tag, opening=True)

    def handle_startendtag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        self._boundary(tag, opening=False)

    def _boundary(self, tag: str, *, opening: bool) -> None:
        if tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth + (1 if opening else -1))
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self.hidden_depth:
            self.parts.append(data)


def _plain_text(html: str | None) -> str:
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return " ".join("".join(extractor.parts).split())
