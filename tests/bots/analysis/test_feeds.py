"""parse_feed: RSS 2.0 and Atom into headlines, never an exception whatever a feed URL returns."""

import random
from datetime import UTC, datetime

import pytest

from bots.analysis.feeds import parse_feed

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Crypto  Wire</title>
    <link>https://news.example/</link>
    <item>
      <title>Bitcoin surges past $100k</title>
      <link>https://news.example/btc-100k</link>
      <guid isPermaLink="false">wire-1</guid>
      <pubDate>Mon, 02 Mar 2026 10:00:00 +0200</pubDate>
      <description>First version.</description>
    </item>
    <item>
      <title>Bitcoin surges past $100k (updated)</title>
      <link>https://news.example/btc-100k</link>
      <guid isPermaLink="false">wire-1</guid>
      <pubDate>Mon, 02 Mar 2026 11:30:00 +0200</pubDate>
      <description><![CDATA[<p>Bitcoin <b>rall</b>ied &amp; ether followed.</p>
        <p>Traders&nbsp;cheered.</p><script>track()</script>]]></description>
    </item>
    <item>
      <description>An item without a title is skipped.</description>
      <guid isPermaLink="false">wire-2</guid>
    </item>
    <item>
      <title>Ether plunges after exchange hack</title>
      <link>https://news.example/eth-hack</link>
      <pubDate>Mon, 02 Mar 2026 09:15:00 GMT</pubDate>
    </item>
    <item>
      <title>Undated note on Solana</title>
    </item>
  </channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Chain Desk</title>
  <id>tag:desk.example,2026:feed</id>
  <updated>2026-03-02T12:00:00Z</updated>
  <entry>
    <title type="html">&lt;em&gt;Solana&lt;/em&gt; outage resolved</title>
    <id>tag:desk.example,2026:1</id>
    <link href="/posts/1"/>
    <published>2026-03-02T11:00:00+01:00</published>
    <updated>2026-03-02T11:45:00+01:00</updated>
    <content type="html">&lt;div&gt;Validators &lt;i&gt;restarted&lt;/i&gt;.&lt;/div&gt;</content>
  </entry>
  <entry>
    <title>Cardano upgrade ships</title>
    <id>tag:desk.example,2026:2</id>
    <link href="https://desk.example/posts/2"/>
    <updated>2026-03-02T11:50:00Z</updated>
    <summary>Summary   wins over
      content.</summary>
    <content type="html">ignored</content>
  </entry>
  <entry>
    <title>Repeated entry</title>
    <id>tag:desk.example,2026:2</id>
    <updated>2026-03-01T08:00:00Z</updated>
  </entry>
  <entry>
    <id>tag:desk.example,2026:3</id>
    <summary>No title here.</summary>
  </entry>
</feed>
"""


@pytest.fixture
def rss():
    return parse_feed(RSS, url="https://news.example/feed.xml")


def by_title(feed):
    return {headline.title: headline for headline in feed.headlines}


def test_an_rss_feed_gives_its_title_and_headlines_without_problems(rss):
    assert rss.title == "Crypto Wire"
    assert rss.problem == ""
    assert [h.title for h in rss.headlines] == [
        "Bitcoin surges past $100k (updated)",
        "Ether plunges after exchange hack",
        "Undated note on Solana",
    ]


def test_rss_summaries_are_plain_text_without_scripts(rss):
    # Block tags separate words, inline ones (<b>rall</b>ied) do not split them.
    assert rss.headlines[0].summary == "Bitcoin rallied & ether followed. Traders cheered."


def test_rss_dates_become_aware_utc(rss):
    headlines = by_title(rss)
    assert headlines["Bitcoin surges past $100k (updated)"].published == datetime(
        2026, 3, 2, 9, 30, tzinfo=UTC)
    assert headlines["Ether plunges after exchange hack"].published == datetime(
        2026, 3, 2, 9, 15, tzinfo=UTC)
    assert headlines["Undated note on Solana"].published is None


def test_a_duplicate_guid_keeps_only_the_newest_version(rss):
    copies = [h for h in rss.headlines if h.guid == "wire-1"]
    assert [h.title for h in copies] == ["Bitcoin surges past $100k (updated)"]
    assert copies[0].summary != "First version."


def test_an_item_without_a_title_is_skipped(rss):
    assert all(h.guid != "wire-2" for h in rss.headlines)


def test_the_guid_falls_back_to_the_link_then_to_a_hash(rss):
    headlines = by_title(rss)
    assert headlines["Ether plunges after exchange hack"].guid == "https://news.example/eth-hack"
    undated = headlines["Undated note on Solana"]
    assert undated.link == ""
    assert undated.guid.startswith("sha256:")
    assert parse_feed(RSS).headlines[-1].guid == undated.guid  # stable across fetches


def test_an_atom_feed_gives_plain_text_absolute_links_and_newest_first():
    feed = parse_feed(ATOM, url="https://desk.example/atom.xml")
    assert feed.title == "Chain Desk"
    assert feed.problem == ""
    cardano, solana = feed.headlines  # the untitled entry is skipped
    assert solana.title == "Solana outage resolved"
    assert solana.link == "https://desk.example/posts/1"
    assert solana.summary == "Validators restarted."
    assert solana.published == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # published, not updated
    assert cardano.published == datetime(2026, 3, 2, 11, 50, tzinfo=UTC)
    assert cardano.summary == "Summary wins over content."
    assert cardano.guid == "tag:desk.example,2026:2"
    assert cardano.title == "Cardano upgrade ships"  # the older duplicate id lost


def test_malformed_xml_keeps_the_entries_feedparser_recovered():
    broken = RSS.replace(b"<title>Ether plunges after exchange hack</title>",
                         b"<title>Ether plunges after exchange hack</titel>")
    feed = parse_feed(broken)
    assert feed.problem.startswith("malformed feed (XML error: ")
    assert "kept the" in feed.problem
    assert "Bitcoin surges past $100k (updated)" in by_title(feed)


def test_a_truncated_feed_keeps_the_complete_entries():
    cut = RSS[: RSS.index(b"<item>\n      <title>Ether")]
    feed = parse_feed(cut)
    assert feed.problem.startswith("malformed feed")
    assert [h.title for h in feed.headlines] == ["Bitcoin surges past $100k (updated)"]


def test_an_unescaped_ampersand_still_yields_the_headline():
    feed = parse_feed(b"<rss version='2.0'><channel><title>Q & A</title><item>"
                      b"<title>BTC & ETH rally</title><guid>x</guid></item></channel></rss>")
    assert feed.problem.startswith("malformed feed")
    assert [h.title for h in feed.headlines] == ["BTC & ETH rally"]


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the content is empty"),
    (b"  \n ", "the content is empty"),
    (b"<!DOCTYPE html><html><head><title>Login</title></head><body>Hi</body></html>",
     "it is an HTML page"),
    (b"<?xml version='1.0'?><catalog><book>Dune</book></catalog>", "no <rss>, <feed> or RDF"),
    (b'{"items": [{"title": "BTC up"}]}', "XML error"),
    (b"/etc/passwd", "XML error"),  # bytes are content, never a path or URL to open
])
def test_something_that_is_not_a_feed_is_reported_in_words(content, reason):
    feed = parse_feed(content)
    assert feed.headlines == []
    assert feed.problem.startswith("not an RSS or Atom feed: ")
    assert reason in feed.problem


def test_random_bytes_and_cut_feeds_never_raise():
    rng = random.Random(20260302)
    for size in range(0, 600, 7):
        for content in (rng.randbytes(size), RSS[:size], ATOM[:size]):
            feed = parse_feed(content)
            assert isinstance(feed.problem, str)
            assert all(h.title for h in feed.headlines)


def test_an_empty_but_valid_feed_has_no_problem():
    feed = parse_feed(b"<rss version='2.0'><channel><title>Quiet</title></channel></rss>")
    assert (feed.title, feed.headlines, feed.problem) == ("Quiet", [], "")
