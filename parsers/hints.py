"""What an element's ``class``/``id`` says about it: page furniture, or the article itself.

Templates name their blocks (``post-comments``, ``relatedStories``, ``share_bar``,
``article-body``): the names are the one description of a block's role that survives a redesign
in any language. They are read as words: a name is split at ``-``, ``_``, spaces, digits and
camelCase humps, so ``shadow`` or ``download`` never read as an ``ad``, nor ``shared`` as a
``share`` button. The vocabulary is the web's conventional English of CSS names, not of text.
"""

from __future__ import annotations

import functools
import re

from selectolax.lexbor import LexborNode

# Blocks that are never the article: discussion, recirculation, sharing, promotion, widgets.
FURNITURE_WORDS = frozenset(
    {"comment", "comments", "commentlist", "discussion", "disqus", "replies", "reply",
     "related", "recommended", "recommendations", "recirc", "recirculation", "trending",
     "popular", "mostread", "latest", "teaser", "teasers", "more", "also", "next", "prev",
     "previous", "outbrain",
     "taboola",
     "share", "sharing", "sharebar", "social", "socials", "follow",
     "newsletter", "subscribe", "subscription", "signup", "promo", "promotion", "sponsor",
     "sponsored", "ad", "ads", "advert", "adverts", "advertisement", "advertising", "adslot",
     "banner", "widget", "sidebar", "rail", "carousel", "slideshow", "slider", "gallery",
     "breadcrumb",
     "breadcrumbs", "menu", "nav",
     "navbar", "navigation", "footer", "masthead", "toolbar", "tags", "tag", "keywords",
     "popup", "modal", "cookie", "consent", "byline", "dateline", "author", "bio",
     "meta", "timestamp", "pagination", "pager", "print", "hidden", "caption", "credit",
     "header", "head", "headline", "subline", "dek", "kicker", "eyebrow"}
)  # fmt: skip
# Names of the article's own container.
CONTENT_WORDS = frozenset(
    {"article", "content", "body", "post", "entry", "story", "text", "main", "articlebody",
     "articletext", "storybody", "postbody", "richtext", "prose"}
)  # fmt: skip
# Furniture words that also name parts of an article's own markup (its title, byline, image
# captions): a reason to score a block lower, not to remove it from a body.
SOFT_WORDS = frozenset(
    {"more", "also", "next", "byline", "dateline", "author", "bio", "meta", "timestamp", "print",
     "caption", "credit", "hidden", "tag", "tags", "keywords", "follow", "rail", "banner",
     "header", "head", "headline", "subline", "dek", "kicker", "eyebrow"}
)  # fmt: skip
# Inside an article's block, these name what is around the text, never the text: removed.
# (Captions stay: the walker turns them into captions; "more"/"next" may name a page's rest.)
INNER_CHROME_WORDS = FURNITURE_WORDS - {"more", "also", "next", "caption", "credit", "hidden"}

_WORD_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


@functools.lru_cache(maxsize=4096)
def name_words(name: str) -> frozenset[str]:
    """The words of a class/id value, lowercased: ``relatedStories-list`` → related, stories,
    list (plural ``s`` kept: ``comments`` and ``comment`` are both in the vocabulary)."""
    return frozenset(w.lower() for w in _WORD_RE.findall(name))


def element_name(node: LexborNode) -> str:
    attrs = node.attributes
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}"


@functools.lru_cache(maxsize=4096)
def furniture_words(name: str) -> frozenset[str]:
    return name_words(name) & FURNITURE_WORDS


@functools.lru_cache(maxsize=4096)
def is_content_name(name: str) -> bool:
    return bool(name_words(name) & CONTENT_WORDS)


# Text kept for screen readers only ("sr-only", "visually-hidden", "screen-reader-text").
_SCREEN_READER = (frozenset({"sr", "only"}), frozenset({"visually", "hidden"}),
                  frozenset({"screen", "reader"}))  # fmt: skip


@functools.lru_cache(maxsize=4096)
def is_inner_chrome(name: str) -> bool:
    words = name_words(name)
    return not words.isdisjoint(INNER_CHROME_WORDS) or any(s <= words for s in _SCREEN_READER)


def is_hard_furniture(name: str) -> bool:
    """Named as a block that holds no article text at all (comments, related, share, ad…)."""
    words = furniture_words(name)
    return bool(words) and not words <= SOFT_WORDS
