"""leaderboard.md as HTML: the report shows every table, note and footnote the Markdown has, from the same text.

Only the Markdown the leaderboard writes is understood: `#`–`###` headings, `- ` lists, pipe tables with an
alignment row, paragraphs, one image per line (`![alt](src)`, which `image(src, alt)` may replace, e.g. by an
interactive plot), and inline code spans, `**bold**` and backslash escapes. Every piece of text is HTML-escaped
(the Markdown escapes HTML as entities, which are decoded first, so nothing is escaped twice).
"""
from __future__ import annotations

import re
from html import escape, unescape

INLINE = re.compile(r"`[^`]*`|\\.|\*\*|[^`\\*]+|.", re.S)
CELL = re.compile(r"(?<!\\)\|")
IMAGE = re.compile(r"^!\[(?P<alt>(?:[^\]\\]|\\.)*)\]\((?P<src>[^()\s]*)\)$")
ALIGN = {"l": "l", "c": "c", "r": "r"}


def inline(text: str) -> str:
    out, bold = [], False
    for token in INLINE.findall(text):
        if token.startswith("`") and token.endswith("`") and len(token) >= 2:
            out.append(f"<code>{escape(token[1:-1].replace(chr(92) + '|', '|'))}</code>")
        elif token == "**":
            out.append("</b>" if bold else "<b>")
            bold = not bold
        elif token.startswith("\\") and len(token) == 2:
            out.append(escape(token[1]))
        else:
            out.append(escape(unescape(token)))
    return "".join(out) + ("</b>" if bold else "")


def _cells(line: str) -> list[str]:
    parts = CELL.split(line.strip())
    return [p.strip() for p in parts[1:-1]] if len(parts) >= 2 else [line.strip()]


def _align(spec: str) -> str:
    spec = spec.strip()
    if spec.startswith(":") and spec.endswith(":"):
        return "c"
    return "r" if spec.endswith(":") else "l"


def _table(lines: list[str]) -> str:
    head = _cells(lines[0])
    aligns = [_align(a) for a in _cells(lines[1])] if len(lines) > 1 else []
    aligns += ["l"] * (len(head) - len(aligns))
    out = ['<div class="tablebox"><table><thead><tr>' +
           "".join(f'<th class="{aligns[i]}">{inline(h)}</th>' for i, h in enumerate(head)) + "</tr></thead><tbody>"]
    for line in lines[2:]:
        cells = _cells(line)
        out.append("<tr>" + "".join(f'<td class="{aligns[i] if i < len(aligns) else "l"}">{inline(c)}</td>'
                                    for i, c in enumerate(cells)) + "</tr>")
    return "\n".join(out + ["</tbody></table></div>"])


def to_html(markdown: str, image=None) -> str:
    """The HTML body of `markdown`; `image(src, alt) -> html | None` replaces an image line (None: an <img>)."""
    blocks, paragraph, items, table = [], [], [], []

    def flush():
        if paragraph:
            blocks.append("<p>" + " ".join(inline(p) for p in paragraph) + "</p>")
            paragraph.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if table:
            blocks.append(_table(table))
            table.clear()

    for raw in markdown.splitlines():
        line = raw.rstrip()
        if line.startswith("|"):
            if paragraph or items:
                flush()
            table.append(line)
            continue
        if table:
            flush()
        heading = re.match(r"^(#{1,3}) (.*)$", line)
        picture = IMAGE.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            blocks.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif picture:
            flush()
            alt = re.sub(r"\\(.)", r"\1", picture.group("alt"))
            replaced = image(picture.group("src"), alt) if image else None
            blocks.append(replaced if replaced is not None else
                          f'<img src="{escape(picture.group("src"))}" alt="{escape(unescape(alt))}">')
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append(line[2:])
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    return "\n".join(blocks)
