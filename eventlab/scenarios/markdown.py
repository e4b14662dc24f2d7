"""Narration is Markdown, rendered then sanitised (nh3): raw HTML is escaped, only safe tags and http(s)/mailto
links survive, so a `<script>` or a `javascript:` link never runs."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "hr"}
_md = MarkdownIt("commonmark", {"html": False}).disable("image")


def render(text: str) -> str:
    html = _md.render(text or "")
    html = html.replace("<h1>", "<h3>").replace("</h1>", "</h3>").replace("<h2>", "<h3>").replace("</h2>", "</h3>")
    return nh3.clean(html, tags=TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")
