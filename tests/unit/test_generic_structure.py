"""The generic extractor on real-page structures (issue 16): each page is a compact, hand-written
instance of a pattern seen on news sites no profile describes."""

from __future__ import annotations

import dataclasses

import pytest

from vksnd.parsers.article import parse_article
from vksnd.parsers.declared import looks_like_name
from vksnd.parsers.errors import NotAnArticle
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.parsers.records import Article

URL = "https://news.example.org/2021/05/04/story.html"
# No profile selector matches: every page here takes the generic path.
NO_PROFILE = dataclasses.replace(PROFILE, selectors=dataclasses.replace(PROFILE.selectors, body=()))


def sentence(n: int, words: int = 24) -> str:
    """A distinct sentence of prose (commas and a full stop, as article text has)."""
    body = " ".join(f"w{n}x{i}" for i in range(words))
    return f"Paragraph {n} opens, then goes on: {body}, and closes here."


def parse(body: str, head: str = "<title>A story</title>") -> Article:
    page = f"<html><head>{head}</head><body>{body}</body></html>"
    return parse_article(page.encode(), URL, profile=NO_PROFILE)


def paras(*numbers: int) -> str:
    return "".join(f"<p>{sentence(n)}</p>" for n in numbers)


def test_an_article_split_over_sibling_blocks_is_joined() -> None:
    # one block per section; one section is richer than the others, and alone would win
    blocks = "".join(
        f"<div class='block'><div class='block-text'>{paras(n)}</div></div>" for n in range(1, 9)
    )
    rich = f"<div class='block'><div class='block-text'>{paras(20, 21, 22)}</div></div>"
    article = parse(f"<main><article><div class='content'>{blocks}{rich}</div></article></main>")
    for n in (1, 5, 8, 20, 22):
        assert sentence(n) in article.text


def test_text_split_over_nested_spans_is_joined() -> None:
    body = (
        "<div class='post-body'>"
        f"<div><span><span>{sentence(1)}</span></span></div>"
        f"<div class='reader'><div><span><span>{sentence(2)}</span></span></div>"
        f"<div><span><span>{sentence(3)}</span></span></div></div></div>"
        "<div class='side'><ul><li><a href='/a'>Popular post one</a></li></ul></div>"
    )
    article = parse(body)
    assert article.text.split("\n\n") == [sentence(1), sentence(2), sentence(3)]


def test_an_article_of_lists_and_paragraphs_is_whole() -> None:
    items = "".join(f"<ul><li>{sentence(n)}</li></ul>" for n in range(10, 16))
    body = f"<div class='entry'>{paras(1, 2)}{items}{paras(3)}</div>"
    article = parse(f"<div class='layout has-sidebar'>{body}</div>")
    for n in (1, 3, 10, 15):
        assert sentence(n) in article.text


def test_a_teaser_list_with_summaries_does_not_beat_a_short_article() -> None:
    teasers = "".join(
        f"<li class='item'><div class='card'><h3><a href='/s/{n}'>Headline {n}</a></h3>"
        f"<div class='summary'>{sentence(100 + n, 40)}</div></div></li>"
        for n in range(12)
    )
    body = f"<main><div class='story'>{paras(1, 2, 3)}</div></main><div><ul>{teasers}</ul></div>"
    article = parse(body)
    assert article.text.split("\n\n") == [sentence(1), sentence(2), sentence(3)]


def test_a_comment_thread_does_not_beat_the_article() -> None:
    comments = "".join(
        f"<div class='comment'><div class='content'>{paras(50 + n, 51 + n, 52 + n)}</div></div>"
        for n in range(0, 9, 3)
    )
    body = (
        f"<div class='article'><div class='content'>{paras(1, 2)}</div></div>"
        f"<div id='comments'>{comments}</div>"
    )
    article = parse(body)
    assert article.text.split("\n\n") == [sentence(1), sentence(2)]


def test_boxes_named_as_chrome_inside_the_article_block_are_removed() -> None:
    body = (
        "<article class='story'>"
        "<ul class='article-byline'><li>by A. Writer</li><li>Nov 18, 2019 at 9:24 pm</li></ul>"
        f"{paras(1, 2)}"
        "<div class='Newsletter'><h3>Daily briefing</h3><p>Get the stories you love.</p>"
        "<form><input type='email'><button>Sign up</button></form></div>"
        f"{paras(3)}"
        "<div class='share-tools'><span>Share this story</span></div>"
        "<div class='author-bio-box'><p>A. Writer covers the courts from the capital.</p></div>"
        "<div class='latest-news-box'><h4>Our latest stories</h4><ul>"
        "<li><h3><a href='/x'>One headline</a></h3><p>Its dek, a sentence of some length.</p></li>"
        "</ul></div></article>"
    )
    article = parse(body)
    assert article.text.split("\n\n") == [sentence(1), sentence(2), sentence(3)]


def test_a_wrapper_named_like_chrome_that_holds_the_text_stays() -> None:
    body = f"<article><div class='paywall article-meta'>{paras(1, 2, 3)}</div></article>"
    assert parse(body).text.split("\n\n") == [sentence(1), sentence(2), sentence(3)]


# -- metadata the page declares ------------------------------------------------------------
BODY = paras(1, 2, 3)


def test_a_declared_date_beats_the_time_elements_of_comments_and_updates() -> None:
    head = "<meta property='article:published_time' content='2019-11-08T15:30:00-05:00'>"
    body = f"<article>{BODY}<time datetime='2019-11-13T10:00:00Z'>Updated</time></article>"
    published = parse(body, head).published_at
    assert published is not None and published.date().isoformat() == "2019-11-09"  # UTC+7


def test_dates_in_the_forms_cms_write() -> None:
    cases = {
        "<meta name='sailthru.date' content='2019-11-19 02:24:00'>": "2019-11-19",
        "<meta name='pdate' content='x'><meta name='date' content='20191118'>": "2019-11-18",
        "<meta name='pubdate' content='November 20, 2019 12:32'>": "2019-11-20",
    }
    for head, day in cases.items():
        published = parse(f"<article>{BODY}</article>", head).published_at
        assert published is not None and published.date().isoformat() == day, head


def test_json_ld_placeholder_date_is_no_date_and_the_url_date_is_used() -> None:
    script = (
        "<script type='application/ld+json'>"
        '{"@type": "NewsArticle", "datePublished": "0001-01-01T00:00:00Z",'
        ' "author": {"@type": "Person", "name": "Jane Q. Writer"}}</script>'
    )
    article = parse(f"<article>{BODY}</article>", script)
    assert article.author == "Jane Q. Writer"
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == "2021-05-04"  # from the URL path


def test_microdata_and_a_date_under_the_headline() -> None:
    body = (
        "<h1>A story</h1><div class='by'>By Carrie Arnold, November 15, 2019</div>"
        f"<div class='story'>{BODY}</div>"
        "<span itemprop='author'><span itemprop='name'>Carrie Arnold</span></span>"
    )
    page = f"<html><head><title>A story</title></head><body>{body}</body></html>"
    article = parse_article(page.encode(), "https://news.example.org/story", profile=NO_PROFILE)
    assert article.author == "Carrie Arnold"
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == "2019-11-15"


def test_an_author_must_look_like_a_name() -> None:
    for junk in ("LEARN MORE", "https://example.org/me", "Contributing: A. Person", "Ad (1)"):
        assert looks_like_name(junk) is False, junk
    for name in ("Minh Anh", "Jane Q. Writer", "Đắc Thái", "Bruce Y. Lee"):
        assert looks_like_name(name) is True, name
    head = "<meta name='author' content='https://www.facebook.com/site'>"
    tail = "<p style='text-align:right'><strong>LEARN MORE</strong></p>"
    assert parse(f"<article>{BODY}{tail}</article>", head).author is None


# -- what the page is ------------------------------------------------------------------------
def _roundup() -> str:
    items = "".join(
        f"<li><strong><a href='/story-{n}'>Headline number {n} that runs long enough</a>."
        f"</strong> {sentence(n, 1)}</li>"
        for n in range(12)
    )
    return f"<div class='post'><p>{sentence(99)}</p><ol>{items}</ol></div>"


def test_a_roundup_of_headline_links_that_declares_itself_an_article_is_one() -> None:
    head = "<meta property='og:type' content='article'>"
    article = parse(_roundup(), head)
    assert sentence(99) in article.text and "Headline number 11" in article.text


def test_the_same_roundup_declaring_nothing_is_a_listing() -> None:
    with pytest.raises(NotAnArticle) as info:
        parse(_roundup())
    assert info.value.kind == "listing"


def test_hidden_blocks_are_not_the_article() -> None:
    hidden = (
        "<div style='display:none' itemscope><div itemprop='keywords'>one, two, three, four, "
        "five, six, seven, eight, nine, ten, eleven, twelve</div>"
        f"<div itemprop='description'>{sentence(50)}</div></div>"
    )
    article = parse(f"<div class='story'>{paras(1)}</div>{hidden}")
    assert article.text == sentence(1)


# -- captions ----------------------------------------------------------------------------------
def test_a_caption_needs_the_markup_to_tie_it_to_its_image() -> None:
    body = (
        f"<article>{paras(1)}"
        "<p><img src='/step1.png'></p><p>Open the menu and choose the settings tab</p>"
        "<p><img src='/step2.png'></p><p>メニューから「設定」をクリック。</p>"
        "<div class='photo'><p><img src='/p.jpg'></p>"
        "<span class='newsCaption'>Crowds at the square <span>(Image: Agency)</span></span></div>"
        "<div class='wp-block'><img src='/q.jpg'><p class='wp-caption-text'>Quiet streets</p></div>"
        f"{paras(2)}</article>"
    )
    article = parse(body)
    assert article.captions == ("Crowds at the square (Image: Agency)", "Quiet streets")
    assert article.text.split("\n\n") == [
        sentence(1),
        "Open the menu and choose the settings tab",
        "メニューから「設定」をクリック。",
        sentence(2),
    ]


def test_galleries_hidden_overlays_and_screen_reader_text_stay_out() -> None:
    gallery = (
        "<div class='asset_gallery'><ul><li><img src='/g1.jpg'><div class='caption'>"
        "<p>A long row of unsold cars sits at a dealership, one of many.</p>"
        "<span class='credit'>Photo: A. Photographer</span></div></li></ul>"
        "<div class='overlay hidden'><span>Back to Gallery</span></div></div>"
    )
    controls = "<a href='#slides'><span class='sr-only'>Previous</span></a>"
    article = parse(f"<div class='article-body'>{paras(1)}{gallery}{paras(2)}{controls}</div>")
    assert article.text.split("\n\n") == [sentence(1), sentence(2)]
    assert article.author is None


def test_sections_wrapped_deeper_than_scores_reach_are_joined() -> None:
    def section(*numbers: int) -> str:
        inner = f"<div class='wysiwyg'>{paras(*numbers)}</div>"
        for _ in range(4):
            inner = f"<div class='wrap'>{inner}</div>"
        return f"<div class='block'>{inner}</div>"

    body = f"<div id='postBody'>{section(1, 2)}{section(3, 4, 5, 6, 7)}{section(8)}</div>"
    article = parse(f"<div id='root'>{body}</div><div class='side'><a href='/x'>More</a></div>")
    assert article.text.split("\n\n") == [sentence(n) for n in range(1, 9)]


def test_a_label_recurring_between_paragraphs_is_chrome_a_recurring_menu_label_is_not() -> None:
    label = "<div class='x9f'><span>Advert</span></div>"
    body = f"<article>{paras(1)}{label}{paras(2)}{label}{paras(3)}</article>"
    assert parse(body).text.split("\n\n") == [sentence(1), sentence(2), sentence(3)]
    menu = "".join(
        f"<p>Day {n}</p><p>Breakfast</p><p>Oats and fruit</p><p>Lunch</p><p>Soup</p>"
        for n in (1, 2)
    )
    text = parse(f"<article>{paras(1)}{menu}{paras(2)}</article>").text
    assert text.count("Breakfast") == 2 and text.count("Lunch") == 2


def test_a_caption_block_without_its_image_is_a_caption() -> None:
    body = (
        f"<article>{paras(1)}<div class='box'><div class='caption-text'>A plume of vapour "
        "rises from the moon</div><div class='credit'>(Image: Agency)</div></div>"
        f"{paras(2)}</article>"
    )
    article = parse(body)
    assert article.text.split("\n\n") == [sentence(1), sentence(2)]
    assert article.captions == ("A plume of vapour rises from the moon", "(Image: Agency)")


def test_a_listing_with_a_time_per_item_is_still_a_listing() -> None:
    items = "".join(
        f"<li><a href='/story-{n}'>Headline number {n} that runs long enough</a>"
        f"<time datetime='2021-05-0{1 + n % 5}'>May</time></li>"
        for n in range(12)
    )
    with pytest.raises(NotAnArticle) as info:
        parse(f"<div class='list'><ul>{items}</ul><p>{sentence(1, 3)}</p></div>")
    assert info.value.kind == "listing"


def test_date_and_byline_lines_above_the_text_are_not_text() -> None:
    body = (
        "<div class='story'><h2>A story</h2><p>By Carrie Arnold</p>"
        "<p>Posted: Fri 6:45 PM, Feb 16, 2018 | Updated: Sat 8:31 PM, Feb 17, 2018</p>"
        "<p>segunda-feira, 22 de janeiro de 2018 às 0:13</p>"
        f"{paras(1)}<p>Short closing line, Feb 16, 2018</p>{paras(2)}</div>"
    )
    text = parse(body).text
    assert text.split("\n\n") == [
        sentence(1),
        "Short closing line, Feb 16, 2018",  # below the first prose: text
        sentence(2),
    ]
    assert "Posted" not in text and "Carrie" not in text and "janeiro" not in text


def test_prev_next_rows_and_runs_of_links_between_blocks_are_not_text() -> None:
    body = (
        f"<div class='article'>{paras(1)}"
        "<b>Tags</b> <a href='/t/a'>first tag name</a>, <a href='/t/b'>second tag name</a>"
        f"{paras(2)}<div class='grid next-prev'><a href='/p'><h5>Previous story headline</h5>"
        "<p>Its dek, a sentence of some length here.</p></a></div></div>"
    )
    assert parse(body).text.split("\n\n") == [sentence(1), sentence(2)]


def test_a_long_block_named_as_a_caption_is_a_caption() -> None:
    caption = sentence(7, 40)
    body = f"<div class='story'>{paras(1)}<div class='imageEmbedCaption'>{caption}</div>"
    article = parse(f"{body}{paras(2)}</div>")
    assert article.captions == (caption,)
    assert article.text.split("\n\n") == [sentence(1), sentence(2)]


def _cards(count: int) -> str:
    return "".join(
        f"<div class='c'><h3><a href='/s/{n}'>Headline {n} of another story today</a></h3>"
        f"<p>{sentence(100 + n, 18)}</p></div>"
        for n in range(count)
    )


def test_an_unnamed_column_of_story_cards_beside_the_article_stays_out() -> None:
    for column in (
        f"<div class='col-8'>{paras(1, 2, 3)}</div>",
        f"<div class='col-8'><div>{paras(1, 2)}</div><div>{paras(3)}</div></div>",
    ):
        body = f"<div class='row'>{column}<div class='col-4'>{_cards(8)}</div></div>"
        assert parse(body).text.split("\n\n") == [sentence(1), sentence(2), sentence(3)]


def test_a_roundup_whose_items_lead_with_links_keeps_them() -> None:
    items = "".join(
        f"<li><strong><a href='/s/{n}'>Headline {n} of another story today</a>.</strong> "
        f"{sentence(n, 12)}</li>"
        for n in range(6)
    )
    body = f"<article>{paras(90)}<ol>{items}</ol>{paras(91)}</article>"
    head = "<meta property='og:type' content='article'>"
    text = parse(body, head).text
    assert "Headline 5 of another story today" in text and sentence(91) in text
