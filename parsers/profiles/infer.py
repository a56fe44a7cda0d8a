"""A draft profile from one listing page (``vksnd profile init URL``): a new site in minutes.

The article-URL regex is inferred from the page's links: same-host links are grouped by path
shape (segment count, which segments are numbers, the number at the end of the last one and
what stands before it, the extension); the family whose numeric ids are most numerous inside
the main content (header, nav, footer and asides left out) wins. Within it, a segment with one
value everywhere stays literal, one that repeats across links (or names this listing) becomes
the ``category`` group, one that differs on every link is the slug. The listing template comes
from pager links: a link that differs from this page by one number (``?trang=2``, ``/p/2``) gives
``{page}``, and the part of this page's address that names the category gives ``{slug}`` (or
``{id}`` when it is a number). Other categories are the links of the same form elsewhere on the
page (the menu). The result is TOML text for ``vksnd profile check`` to confirm.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.decoding import decode_body
from vksnd.parsers.query import css

_TAIL = re.compile(r"^(?P<head>.*?)(?P<id>[0-9]+)(?P<ext>\.[A-Za-z0-9]+)?$")
_SLUG_TEXT = re.compile(r"^[a-z0-9-]+$")
MIN_FAMILY = 3  # links with distinct ids, at least, for a family to be an article pattern
_NAME_CLEAN = re.compile(r"[^a-z0-9-]+")


class InferenceError(ValueError):
    """The page does not show enough to draft a profile (says what is missing)."""


@dataclass(slots=True)
class _Family:
    shape: tuple[str, ...]
    paths: list[tuple[str, ...]] = field(default_factory=list)
    main_ids: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Draft:
    """What ``init`` inferred; ``toml`` is the profile text."""

    name: str
    base_url: str
    article_regex: str
    listing_template: str | None
    categories: tuple[tuple[str, int | None], ...]
    next_selector: str | None
    notes: tuple[str, ...]
    toml: str


def _segment_kind(segment: str, last: bool) -> str:
    if segment.isdigit():
        return "num"
    if last:
        tail = _TAIL.match(segment)
        if tail and tail["head"] and not tail["head"][-1].isdigit():
            sep = re.search(r"[^a-z0-9]*[a-z]?$", tail["head"])
            return f"tail:{sep.group(0) if sep else ''}:{tail['ext'] or ''}"
    return "word"


def _shape(path: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    segments = tuple(s for s in path.split("/") if s)
    if not segments or len(segments) > 8:
        return None
    kinds = tuple(_segment_kind(s, i == len(segments) - 1) for i, s in enumerate(segments))
    if not any(k == "num" or k.startswith("tail:") for k in kinds):
        return None
    return kinds, segments


def _in_furniture(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if parent.tag in ("header", "nav", "footer", "aside"):
            return True
        classes = (parent.attributes.get("class") or "").lower()
        if any(w in classes for w in ("menu", "sidebar", "side", "footer", "header", "nav")):
            return True
        parent = parent.parent
    return False


def _id_of(kinds: tuple[str, ...], segments: tuple[str, ...]) -> str:
    last = len(kinds) - 1
    if kinds[last].startswith("tail:"):
        tail = _TAIL.match(segments[last])
        return tail["id"] if tail else ""
    numbers = [i for i, k in enumerate(kinds) if k == "num"]
    return segments[numbers[-1]]


def _families(tree: LexborHTMLParser, url: str) -> list[_Family]:
    host = urlsplit(url).netloc.lower()
    found: dict[tuple[str, ...], _Family] = {}
    for link in css(tree, "a[href]"):
        href = (link.attributes.get("href") or "").strip()
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        if parts.netloc.lower() != host or parts.scheme not in ("http", "https"):
            continue
        shaped = _shape(parts.path)
        if shaped is None:
            continue
        kinds, segments = shaped
        family = found.setdefault(kinds, _Family(kinds))
        family.paths.append(segments)
        number = _id_of(kinds, segments)
        family.ids.add(number)
        if not _in_furniture(link):
            family.main_ids.add(number)
    return list(found.values())


def _escape(text: str) -> str:
    """``re.escape`` without the escaped hyphens: slugs stay readable in the draft."""
    return re.escape(text).replace("\\-", "-")


def _slug_class(values: set[str]) -> str:
    return "[a-z0-9-]+" if all(_SLUG_TEXT.match(v) for v in values) else "[^/]+"


def _article_regex(
    family: _Family, listing_path: str, *, optional_first: bool = False
) -> tuple[str, bool]:
    """The regex of a family and whether it has a ``category`` group."""
    kinds = family.shape
    columns = list(zip(*family.paths, strict=True))
    listing_segments = {s for s in listing_path.split("/") if s}
    id_index = len(kinds) - 1 if kinds[-1].startswith("tail:") else None
    if id_index is None:
        id_index = max(i for i, k in enumerate(kinds) if k == "num")
    # A family whose category is the same on every link (a listing of one category, no boxes
    # of others): the deepest constant word below the first segment names the category.
    constant = [
        i
        for i, kind in enumerate(kinds[:id_index])
        if kind == "word" and i >= 1 and len(set(columns[i])) == 1
    ]
    varying = any(
        kind == "word" and 1 < len(set(columns[i])) < len(columns[i])
        for i, kind in enumerate(kinds[:id_index])
    )
    forced = constant[-1] if constant and not varying else None
    pieces: list[str] = []
    category_open = False
    has_category = False
    category_parts: list[str] = []

    def close_category() -> None:
        nonlocal category_open, has_category
        if category_open:
            pieces.append("(?P<category>" + "/".join(category_parts) + ")")
            category_parts.clear()
            category_open = False
            has_category = True

    for index, kind in enumerate(kinds):
        values = set(columns[index])
        if index == id_index:
            close_category()
            if kind == "num":
                pieces.append("(?P<id>[0-9]+)")
            else:
                _, sep, ext = kind.split(":", 2)
                heads = [m["head"] for v in values if (m := _TAIL.match(v))]
                stems = {h[: len(h) - len(sep)] if sep else h for h in heads}
                filled = stems - {""}
                stem = _slug_class(filled) if filled else ""
                if stem and "" in stems:
                    stem = stem.replace("+", "*")
                pieces.append(stem + _escape(sep) + "(?P<id>[0-9]+)" + _escape(ext))
            continue
        if kind == "num":
            close_category()
            pieces.append("[0-9]+")
            continue
        repeats = len(values) < len(columns[index])
        varies = len(values) > 1
        names_listing = bool(values & listing_segments) and index < id_index
        may_be_category = (
            index < id_index and not has_category and not (optional_first and index == 0)
        )
        if index == forced or (may_be_category and ((varies and repeats) or names_listing)):
            category_open = True
            category_parts.append(_slug_class(values))
            continue
        close_category()
        if optional_first and index == 0:
            pieces.append(_slug_class(values))  # a section some URLs carry: any of them
        elif not varies:
            pieces.append(_escape(next(iter(values))))
        else:
            pieces.append(_slug_class(values))
    close_category()
    if optional_first and len(pieces) > 1:
        return "^/(?:" + pieces[0] + "/)?" + "/".join(pieces[1:]) + "$", has_category
    return "^/" + "/".join(pieces) + "$", has_category


def _number_tokens(target: str) -> list[tuple[int, int, int]]:
    return [(m.start(), m.end(), int(m.group(0))) for m in re.finditer(r"[0-9]+", target)]


def _listing_template(
    tree: LexborHTMLParser, url: str, article: re.Pattern[str]
) -> tuple[str | None, str | None]:
    """(template with {page} but the category part still literal, next-link selector)."""
    parts = urlsplit(url)
    host = parts.netloc.lower()
    here = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    votes: Counter[str] = Counter()
    next_selector: str | None = None
    for link in css(tree, "a[href]"):
        target = urlsplit(urljoin(url, link.attributes.get("href") or ""))
        if target.netloc.lower() != host or article.match(target.path):
            continue
        there = target.path.rstrip("/") + (f"?{target.query}" if target.query else "")
        if there == here:
            continue
        template = _page_template(here, there)
        if template is None:
            continue
        votes[template] += 1
        if next_selector is None:
            next_selector = _next_selector(link, template, there)
    if not votes:
        return None, next_selector
    return votes.most_common(1)[0][0], next_selector


def _next_selector(link: LexborNode, template: str, there: str) -> str | None:
    """A selector for the pager's "next" link: ``rel=next``, a class, or its title, on a link
    to page 2 whose text is not the bare number (the numbered link to page 2 is not "next")."""
    rel = (link.attributes.get("rel") or "").lower().split()
    if "next" in rel:
        return 'a[rel="next"]'
    pattern = re.escape(template).replace(re.escape("{page}"), "([0-9]+)")
    number = re.fullmatch(pattern, there)
    if number is None or number.group(1) != "2":
        return None
    text = collapse(link.text())
    if text.isdigit():
        # a numbered pager: the link right after the current page's marker
        marker = link.prev
        while marker is not None and not marker.is_element_node:
            marker = marker.prev
        classes = (marker.attributes.get("class") or "").split() if marker is not None else []
        if marker is not None and classes and collapse(marker.text()) == "1":
            return f".{classes[0]} + a"
        return None
    classes = (link.attributes.get("class") or "").split()
    if classes:
        return "a." + classes[0]
    title = link.attributes.get("title")
    if title and '"' not in title:
        return f'a[title="{title}"]'
    if text and '"' not in text and len(text) <= 30:
        return f'a:lexbor-contains("{text}")'
    return None


def _page_template(here: str, there: str) -> str | None:
    """``there`` as a template of ``here`` with one number as ``{page}``, or None."""
    # the page number added: /x -> /x/p/2, /x -> /x?trang=2, /x -> /x/trang-2.html
    if there.startswith(here) or (here.split("?")[0] and there.startswith(here.split("?")[0])):
        base = here if there.startswith(here) else here.split("?")[0]
        rest = there[len(base) :]
        numbers = _number_tokens(rest)
        if len(numbers) == 1 and rest[:1] in ("/", "?", "&", "-", "_", ".") and numbers[0][2] <= 50:
            start, end, _ = numbers[0]
            return base + rest[:start] + "{page}" + rest[end:]
    # a number changed: ?Cat=2&Page=1 -> ?Cat=2&Page=2
    mine, theirs = _number_tokens(here), _number_tokens(there)
    if len(mine) == len(theirs) and mine:
        differ = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a[2] != b[2]]
        # page 1 to another page: a category id that changed is not a page number
        if len(differ) == 1 and mine[differ[0]][2] <= 1 and theirs[differ[0]][2] <= 50:
            start, end, _ = theirs[differ[0]]
            skeleton_here = re.sub(r"[0-9]+", "#", here)
            skeleton_there = re.sub(r"[0-9]+", "#", there)
            if skeleton_here == skeleton_there:
                return there[:start] + "{page}" + there[end:]
    return None


def _peer_paths(tree: LexborHTMLParser, url: str) -> list[tuple[str, ...]]:
    host = urlsplit(url).netloc.lower()
    found: list[tuple[str, ...]] = []
    for link in css(tree, "a[href]"):
        target = urlsplit(urljoin(url, link.attributes.get("href") or ""))
        if target.netloc.lower() == host and not target.query:
            found.append(tuple(s for s in target.path.split("/") if s))
    return found


def _category_positions(
    own: tuple[str, ...], peers: list[tuple[str, ...]], page_at: int | None
) -> tuple[tuple[int, ...], list[tuple[str, ...]]]:
    """Where this listing's path names its category: the contiguous positions in which links of
    the same form (the menu's other categories) differ from it; and those links."""
    votes: Counter[tuple[int, ...]] = Counter()
    by_positions: dict[tuple[int, ...], list[tuple[str, ...]]] = {}
    for peer in set(peers):
        if len(peer) != len(own) or peer == own:
            continue
        differ = tuple(i for i in range(len(own)) if own[i] != peer[i] and i != page_at)
        if not differ or differ != tuple(range(differ[0], differ[-1] + 1)):
            continue
        votes[differ] += 1
        by_positions.setdefault(differ, []).append(peer)
    if not votes:
        return (), []
    positions = max(votes, key=lambda p: (votes[p], -len(p)))
    return positions, by_positions[positions]


def _categories_of_listing(
    tree: LexborHTMLParser,
    url: str,
    template: str,
    category_values: Counter[str],
) -> tuple[str, list[tuple[str, int | None]]] | None:
    """The template with ``{slug}`` or ``{id}``, and the categories: this listing's first."""
    path, _, query = template.partition("?")
    suffix = f"?{query}" if query else ""
    for key, value in parse_qsl(query):
        if value.isdigit() and key.lower() not in ("page", "p", "trang"):
            found = _numbered_peers(tree, url, key, value)
            return template.replace(f"{key}={value}", f"{key}={{id}}"), found
    own = tuple(s for s in urlsplit(url).path.split("/") if s)
    shape = path.split("/")[1:]
    page_at = next((i for i, s in enumerate(shape) if "{page}" in s), None)
    if page_at is not None and page_at < len(own) and len(shape) != len(own):
        page_at = None  # page 1 served bare: the page segment is not in this URL
    positions, peers = _category_positions(own, _peer_paths(tree, url), page_at)
    if not positions:
        # no menu of the same form: the longest part of the path articles name as category
        for size in range(len(own), 0, -1):
            for start in range(len(own) - size + 1):
                if "/".join(own[start : start + size]) in category_values:
                    positions = tuple(range(start, start + size))
                    break
            if positions:
                break
    if not positions:
        candidates = [i for i in range(len(own)) if i != page_at and i < len(shape)]
        if not candidates:
            return None
        positions = (candidates[-1],)
    values = ["/".join(p[i] for i in positions) for p in [own, *peers]]
    numeric = len(positions) == 1 and all(v.isdigit() for v in values)
    placeholder = "{id}" if numeric else "{slug}"
    start, end = positions[0], positions[-1] + 1
    if end > len(shape) or any("{page}" in s for s in shape[start:end]):
        return None
    rebuilt = "/" + "/".join([*shape[:start], placeholder, *shape[end:]]) + suffix
    categories: list[tuple[str, int | None]] = []
    for value in dict.fromkeys(values):
        if numeric:
            categories.append((f"cat-{value}", int(value)))
        elif value == values[0] or value in category_values:
            # with no article naming its category, a menu link of the same form may be any
            # page ("about"): only this listing is known to be a category
            categories.append((value, None))
    return rebuilt, categories


def _numbered_peers(
    tree: LexborHTMLParser, url: str, key: str, value: str
) -> list[tuple[str, int | None]]:
    """Categories by a query id (``?Cat=2``): this one and the links naming another."""
    parts = urlsplit(url)
    found: dict[str, int | None] = {f"cat-{value}": int(value)}
    for link in css(tree, "a[href]"):
        target = urlsplit(urljoin(url, link.attributes.get("href") or ""))
        if target.netloc.lower() != parts.netloc.lower() or target.path != parts.path:
            continue
        for name, other in parse_qsl(target.query):
            if name == key and other.isdigit():
                found.setdefault(f"cat-{other}", int(other))
    return list(found.items())


def infer_profile(
    body: bytes, url: str, content_type: str | None, name: str | None = None
) -> Draft:
    """A draft profile from a listing page; ``InferenceError`` when no article family shows."""
    tree = LexborHTMLParser(decode_body(body, content_type))
    parts = urlsplit(url)
    families = [f for f in _families(tree, url) if len(f.ids) >= MIN_FAMILY]
    if not families:
        raise InferenceError(
            f"no family of at least {MIN_FAMILY} same-host links with a numeric id on {url}"
        )
    best = max(families, key=lambda f: (len(f.main_ids), len(f.ids)))
    # The same form with one leading segment fewer (a section some URLs carry, some not).
    longer = next((f for f in families if f.shape[1:] == best.shape), None)
    shorter = next((f for f in families if best.shape[1:] == f.shape), None)
    optional = longer is not None or shorter is not None
    if longer is not None:
        longer.ids |= best.ids
        longer.main_ids |= best.main_ids
        best = longer
    regex, has_category = _article_regex(best, parts.path, optional_first=optional)
    article = re.compile(regex)
    notes: list[str] = [
        f"urls.article: {len(best.ids)} links with distinct ids of this shape"
        f" ({len(best.main_ids)} in the main content)"
    ]
    category_values: Counter[str] = Counter()
    for segments in best.paths:
        match = article.match("/" + "/".join(segments))
        if match and has_category and match["category"]:
            category_values[match["category"]] += 1
    raw_template, next_selector = _listing_template(tree, url, article)
    template: str | None = None
    categories: list[tuple[str, int | None]] = []
    if raw_template is not None:
        placed = _categories_of_listing(tree, url, raw_template, category_values)
        if placed is not None:
            template, categories = placed
    if template is None:
        notes.append("listing.template: no pager link on this page; fill it in by hand")
    hostname = parts.hostname or ""
    label = "site" if hostname.replace(".", "").isdigit() else hostname.split(".")[0]
    site = name or _NAME_CLEAN.sub("-", label.lower()).strip("-") or "site"
    base_url = f"{parts.scheme}://{parts.netloc}"
    legacy = _legacy_form(tree, url, template)
    if legacy is not None:
        notes.append(f"urls.legacy: articles also linked as {legacy[0]}?{legacy[1]}=N")
    toml = _render(site, base_url, regex, template, categories, next_selector, notes, legacy)
    return Draft(
        site, base_url, regex, template, tuple(categories), next_selector, tuple(notes), toml
    )


def _legacy_form(
    tree: LexborHTMLParser, url: str, template: str | None
) -> tuple[str, str, str | None] | None:
    """(path, id parameter, category parameter) of article links by query (an old CMS's
    ``lists.aspx?Cat=2&ItemID=11236``): headline links on one path whose numeric parameter
    differs on every link, the listing's own page and category parameters aside."""
    host = urlsplit(url).netloc.lower()
    own_params = {k.lower() for k, _ in parse_qsl(urlsplit(template or "").query)}
    category_param = next(
        (k for k, v in parse_qsl(urlsplit(template or "").query) if v in ("{id}", "{cat}")), None
    )
    groups: dict[tuple[str, str], set[str]] = {}
    for link in css(tree, "a[href]"):
        if len(collapse(link.text())) < 20:
            continue
        target = urlsplit(urljoin(url, link.attributes.get("href") or ""))
        if target.netloc.lower() != host or not target.query:
            continue
        for key, value in parse_qsl(target.query):
            if value.isdigit() and key.lower() not in own_params:
                groups.setdefault((target.path, key), set()).add(value)
    if not groups:
        return None
    (path, param), _ = max(groups.items(), key=lambda item: len(item[1]))
    return path, param, category_param


def _toml_string(text: str) -> str:
    if "'" not in text and "\n" not in text:
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render(
    name: str,
    base_url: str,
    regex: str,
    template: str | None,
    categories: list[tuple[str, int | None]],
    next_selector: str | None,
    notes: list[str],
    legacy: tuple[str, str, str | None] | None = None,
) -> str:
    lines = [
        "# Drafted by `vksnd profile init`; confirm with `vksnd profile check URL --profile FILE`.",
        *[f"# {note}" for note in notes],
        f'name = "{name}"',
        f'base_url = "{base_url}"',
        "",
        "[urls]",
        f"article = {_toml_string(regex)}",
        "",
        *(
            [
                "[[urls.legacy]]",
                f"path = {_toml_string('^' + _escape(legacy[0]) + '$')}",
                f'id_param = "{legacy[1]}"',
                "keep = ["
                + ", ".join(f'"{k}"' for k in (legacy[2], legacy[1]) if k is not None)
                + "]",
                *([f'category_param = "{legacy[2]}"'] if legacy[2] else []),
                "",
            ]
            if legacy is not None
            else []
        ),
        "[listing]",
        f"template = {_toml_string(template or '/FILL-IN/{slug}?page={page}')}",
    ]
    uses_id = template is not None and "{id}" in template
    rows = []
    for slug, cat_id in categories:
        if uses_id or cat_id is not None:
            rows.append(f'    {{ slug = "{slug}", id = {cat_id} }},')
        else:
            rows.append(f'    "{slug}",')
    lines.append("categories = [")
    lines.extend(rows)
    lines.append("]")
    if next_selector:
        lines.append(f"next = [{_toml_string(next_selector)}]")
    return "\n".join(lines) + "\n"
