"""Selector-free listing reading: article links grouped by where they sit, and the next page.

A listing page of an unknown site shows its article links in several places: the main list, and
boxes around it (the newest articles of the whole site, "most read", featured picks, related
news) and menus. Nothing here knows a class name or a heading's words; the structure decides:

- links inside ``header``, ``nav``, ``footer`` and ``aside`` are page chrome;
- every other link matching the article pattern is grouped by its *place*: the chain of
  ``tag.class`` names from ``<body>`` down to the link. The title links of one list share one
  place; a box's links have another (its own container is on the chain);
- a group's *region* is the chain of the deepest element holding all its links (the list);
- the caller picks the main group with ``choose_main`` from what it has seen on other pages:
  a group showing exactly the links another page showed in a group is a box (boxes repeat
  across the listing pages of a site, the main list does not); a region learned on earlier
  pages wins; otherwise the group with the most links.

The next page comes from ``rel="next"``, a link to the URL the caller expects next (the profile's
template with page + 1), a "next"-like link, or a numbered pager's page + 1. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.dates import SLASH_DATE_RE, find_slash_date
from vksnd.parsers.query import css
from vksnd.parsers.records import ListingItem

Resolve = Callable[[str], str | None]  # an href -> its canonical absolute URL, None out of scope
IsArticle = Callable[[str], bool]

CHROME_TAGS = frozenset({"header", "nav", "footer", "aside"})
MAX_GROUP_LINKS = 5000
MAX_TITLE_CHARS = 1000
MAX_SUMMARY_CHARS = 4000
_ARROWS = "»›>→‹«<←.…:|"
# What a next link says once arrows are stripped (Vietnamese and English pagers).
_NEXT_WORDS = frozenset(
    {"trang sau", "sau", "tiếp", "tiếp theo", "trang tiếp", "trang kế", "kế tiếp", "xem thêm",
     "next", "next page", "older", "older posts", "more"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LinkGroup:
    """Article links that share one place on the page, in page order (one item per URL)."""

    place: str  # the tag.class chain of the links
    region: str  # the tag.class chain of the deepest element holding them all
    items: tuple[ListingItem, ...]

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(item.url for item in self.items)


def _step(node: LexborNode) -> str:
    classes = " ".join(sorted((node.attributes.get("class") or "").split()))
    return f"{node.tag}.{classes}" if classes else str(node.tag)


def _chain(node: LexborNode) -> tuple[list[LexborNode], bool]:
    """Ancestors from ``<body>``'s child down to ``node``, and whether one is page chrome."""
    nodes: list[LexborNode] = []
    chrome = False
    current: LexborNode | None = node
    while current is not None and current.tag not in ("body", "html", "-undef", None):
        if current.tag in CHROME_TAGS:
            chrome = True
        nodes.append(current)
        current = current.parent
    nodes.reverse()
    return nodes, chrome


def _path(nodes: Sequence[LexborNode]) -> str:
    return "/".join(_step(node) for node in nodes)


def _clean(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return collapse(text)[:limit] or None


def _link_title(link: LexborNode) -> str | None:
    return _clean(link.text(), MAX_TITLE_CHARS) or _clean(
        link.attributes.get("title"), MAX_TITLE_CHARS
    )


@dataclass(slots=True)
class _Link:
    node: LexborNode
    url: str
    nodes: list[LexborNode]


def article_links(tree: LexborHTMLParser, resolve: Resolve, is_article: IsArticle) -> list[_Link]:
    """Every article-pattern link outside page chrome, in page order."""
    root = tree.body
    if root is None:
        return []
    found: list[_Link] = []
    for node in css(root, "a[href]"):
        url = resolve(node.attributes.get("href") or "")
        if url is None or not is_article(url):
            continue
        nodes, chrome = _chain(node)
        if not chrome:
            found.append(_Link(node, url, nodes))
        if len(found) >= MAX_GROUP_LINKS:
            break
    return found


def _common_depth(chains: Iterable[list[LexborNode]]) -> int:
    depth: int | None = None
    first: list[LexborNode] | None = None
    for nodes in chains:
        if first is None:
            first, depth = nodes, len(nodes)
            continue
        assert depth is not None
        limit = min(depth, len(nodes))
        same = 0
        while same < limit and nodes[same].mem_id == first[same].mem_id:
            same += 1
        depth = same
    return depth or 0


def _item_node(link: _Link, urls_under: Callable[[LexborNode], set[str]], floor: int) -> LexborNode:
    """The largest element around ``link`` (below the group's region) linking only its URL."""
    chosen = link.node
    for node in reversed(link.nodes[floor + 1 : -1]):
        if urls_under(node) != {link.url}:
            break
        chosen = node
    return chosen


def _item_date(item: LexborNode, title: str | None) -> date | None:
    for node in css(item, "time[datetime]"):
        found = find_slash_date(node.text() or "")
        if found is not None:
            return found
    text = _clean(item.text(), 1 << 20) or ""
    if title:
        text = text.replace(title, " ")
    return find_slash_date(text)


def _summary(item: LexborNode, title: str | None) -> str | None:
    for node in css(item, "p"):
        text = _clean(node.text(), MAX_SUMMARY_CHARS)
        if text and text != title and not SLASH_DATE_RE.fullmatch(text):
            return text
    return None


def link_groups(tree: LexborHTMLParser, resolve: Resolve, is_article: IsArticle) -> list[LinkGroup]:
    """The page's article links grouped by place, each group's items dated from their element.
    A URL linked from several places (a card's picture, title and "read more") is in each."""
    links = article_links(tree, resolve, is_article)
    memo: dict[int, set[str]] = {}

    def urls_under(node: LexborNode) -> set[str]:
        cached = memo.get(node.mem_id)
        if cached is None:
            cached = set()
            for inner in css(node, "a[href]"):
                url = resolve(inner.attributes.get("href") or "")
                if url is not None and is_article(url):
                    cached.add(url)
            memo[node.mem_id] = cached
        return cached

    by_place: dict[str, list[_Link]] = {}
    for link in links:
        by_place.setdefault(_path(link.nodes), []).append(link)
    groups: list[LinkGroup] = []
    for place, members in by_place.items():
        depth = _common_depth(m.nodes for m in members)
        if len({m.url for m in members}) == 1:
            depth = max(0, len(members[0].nodes) - 2)  # one link: its parent is the region
        region_nodes = members[0].nodes[:depth]
        items: list[ListingItem] = []
        titles: dict[str, str | None] = {}
        for link in members:
            title = _link_title(link.node)
            if link.url in titles:
                continue
            titles[link.url] = title
            node = _item_node(link, urls_under, depth - 1)
            when = _item_date(node, title)
            items.append(
                ListingItem(
                    link.url,
                    title,
                    when,
                    _summary(node, title),
                )
            )
        if items:
            groups.append(LinkGroup(place, _path(region_nodes), tuple(items)))
    return groups


def choose_main(
    groups: Sequence[LinkGroup],
    *,
    region: str | None = None,
    box_regions: frozenset[str] = frozenset(),
) -> LinkGroup | None:
    """The main list among ``groups``: within the learned ``region`` when it is on the page,
    else the region holding the most links that is not known to hold boxes. None when the
    page has no candidate."""
    if region is not None:
        inside = _within(groups, region)
        if inside:
            return _merged(inside, region)
    candidates = [g for g in groups if g.region not in box_regions]
    if not candidates:
        return None
    totals: dict[str, int] = {}
    for group in candidates:
        totals[group.region] = totals.get(group.region, 0) + len(group.items)
    best = max(totals, key=lambda r: totals[r])  # the first of equals: page order
    return _merged(_within(candidates, best), best)


def _within(groups: Sequence[LinkGroup], region: str) -> list[LinkGroup]:
    """The groups in ``region`` or nested in it (a featured first item inside the list)."""
    return [g for g in groups if g.region == region or g.region.startswith(region + "/")]


def _merged(groups: Sequence[LinkGroup], region: str) -> LinkGroup:
    seen: set[str] = set()
    items: list[ListingItem] = []
    for group in groups:
        for item in group.items:
            if item.url not in seen:
                seen.add(item.url)
                items.append(item)
    return LinkGroup(groups[0].place, region, tuple(items))


def _is_next_text(text: str) -> bool:
    folded = " ".join(text.split()).casefold()
    if not folded:
        return False
    stripped = folded.strip(_ARROWS + " ").strip()
    if not stripped:  # only arrows: "»" or "›" (not "»»", which is the last page)
        return folded in ("»", "›", ">", "→")
    return stripped in _NEXT_WORDS


def find_next_page(
    tree: LexborHTMLParser,
    own_url: str,
    resolve: Resolve,
    is_article: IsArticle,
    *,
    page: int | None = None,
    expected_next: str | None = None,
) -> str | None:
    """The next listing page: ``rel="next"``, then a link to ``expected_next``, then a
    "next"-like link, then the numbered pager's ``page`` + 1; None when there is none."""

    def usable(href: str | None) -> str | None:
        if not href:
            return None
        target = resolve(href)
        if target is None or target == own_url or is_article(target):
            return None
        return target

    for node in css(tree, "link[rel][href], a[rel][href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        if "next" in rels:
            target = usable(node.attributes.get("href"))
            if target is not None:
                return target
    anchors = [
        (node, target)
        for node in css(tree, "a[href]")
        if (target := usable(node.attributes.get("href"))) is not None
    ]
    if expected_next is not None:
        for _, target in anchors:
            if target == expected_next:
                return target
    for node, target in anchors:
        if _is_next_text(node.text() or "") and not _in_chrome(node):
            return target
    if page is not None:
        wanted = str(page + 1)
        for node, target in anchors:
            if (node.text() or "").strip() == wanted and not _in_chrome(node):
                return target
    return None


def _in_chrome(node: LexborNode) -> bool:
    return _chain(node)[1]


class RegionLearner:
    """What a walk has learned about a site's listing pages: which link groups are boxes (the
    same links on two pages) and where the main list sits (the region most pages chose).

    Stateful but pure: the walker feeds it every page's groups (``observe``) and asks it for a
    page's main list (``main``). Observing the first page of every category before choosing
    lets the boxes (identical on all of them) be told from the lists (different on each)."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[frozenset[str], set[str]]] = {}  # region -> links -> pages
        self._votes: dict[str, int] = {}

    def observe(self, page_url: str, groups: Sequence[LinkGroup]) -> None:
        for group in groups:
            if len(group.items) >= 2:
                shown = self._seen.setdefault(group.region, {})
                shown.setdefault(group.urls, set()).add(page_url)

    @property
    def box_regions(self) -> frozenset[str]:
        """Regions showing the same links page after page: at most half as many different
        link sets as pages."""
        boxes: set[str] = set()
        for region, shown in self._seen.items():
            pages = len(set().union(*shown.values()))
            if pages >= 2 and 2 * len(shown) <= pages:
                boxes.add(region)
        return frozenset(boxes)

    @property
    def region(self) -> str | None:
        """The main list's region once pages agree on it (two votes, more than any other)."""
        ranked = sorted(self._votes.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
            return None
        return ranked[0][0]

    def main(self, groups: Sequence[LinkGroup]) -> LinkGroup | None:
        region = self.region
        chosen = choose_main(
            groups,
            region=region,
            box_regions=self.box_regions - {region},
        )
        if chosen is not None:
            self._votes[chosen.region] = self._votes.get(chosen.region, 0) + 1
        return chosen
