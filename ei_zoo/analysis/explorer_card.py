"""A model card (an export's README.md) as the explorer's HTML: its Markdown as HTML,
its YAML front matter as a table.

A card may come from a downloaded export, so it is untrusted: raw HTML in it is
shown as text, never passed through, and a link or image whose address has a
scheme other than http, https or mailto (e.g. `javascript:`) loses it.

Example:
    >>> body = card_html(Path("exported/standard-s0/README.md").read_text())
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import markdown
import yaml
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
SAFE_SCHEMES = ("", "http", "https", "mailto")


class _DropUnsafeAddresses(Treeprocessor):
    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                address = element.get(attribute)
                if address is None:
                    continue
                bare = re.sub(r"[\x00-\x20]", "", address)  # as a browser reads it
                if urlsplit(bare).scheme.lower() not in SAFE_SCHEMES:
                    del element.attrib[attribute]


class _Untrusted(Extension):
    """Markdown without raw HTML (it is escaped as text) and without unsafe addresses."""

    def extendMarkdown(self, md):  # noqa: N802 (Python-Markdown's name)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_DropUnsafeAddresses(md), "drop_unsafe_addresses", 0)


def markdown_html(text: str) -> str:
    """Untrusted Markdown (with pipe tables and fenced code) as escaped HTML."""
    return markdown.markdown(text, extensions=["tables", "fenced_code", _Untrusted()])


def split_front_matter(text: str) -> tuple[list[tuple[str, str]], str]:
    """(the front matter's rows, the Markdown after it): each row is a key path
    ("model-index results metrics value") and its value; a list of plain values
    is one comma-separated value. Front matter that is not YAML is one row, as is."""
    match = FRONT_MATTER.match(text)
    if match is None:
        return [], text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return [("front matter (not valid YAML)", match.group(1))], text[match.end():]
    return list(_rows(data)), text[match.end():]


def _rows(value, path: tuple[str, ...] = ()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _rows(item, (*path, str(key)))
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for item in value:
            yield from _rows(item, path)
    else:
        yield " ".join(path), (", ".join(map(str, value)) if isinstance(value, list)
                               else str(value))


def card_html(text: str) -> str:
    """The model card `text` as HTML: its body, then a table of its front matter."""
    rows, body = split_front_matter(text)
    table = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>"
                    for key, value in rows)
    front = (f"<h2>Hub metadata</h2><p>The card's YAML front matter, which a model hub "
             f"reads:</p><table class='front-matter'>{table}</table>" if rows else "")
    return f"<div class='card'>{markdown_html(body)}{front}</div>"
