"""Undo format=flowed line wrapping (RFC 3676)."""

from __future__ import annotations


def _quote_depth(line: str) -> int:
    depth = 0
    while depth < len(line) and line[depth] == ">":
        depth += 1
    return depth


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join flowed lines into paragraphs.

    A line ending in a space is "flowed": it continues on the next line of the same quote depth
    (RFC 3676 4.2). Quote depth is the count of leading ``>`` (4.5); one space after the quote
    marks is space-stuffing and removed (4.4). With DelSp=yes the trailing space is deleted when
    joining (4.2). ``-- `` is the signature separator and never flowed (4.3). Quoted lines come
    out as ``>`` times the depth, a space, then the text.
    """
    trailing_newline = text.endswith("\n")
    lines = text[:-1].split("\n") if trailing_newline else text.split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0

    def finish() -> None:
        prefix = ">" * paragraph_depth + " " if paragraph_depth else ""
        out.append(prefix + "".join(paragraph))
        paragraph.clear()

    for line in lines:
        depth = _quote_depth(line)
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if paragraph and depth != paragraph_depth:
            finish()  # a flowed line followed by a change of depth ends the paragraph (4.5)
        paragraph_depth = depth
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        paragraph.append(content)
        if not flowed:
            finish()
    if paragraph:
        finish()
    return "\n".join(out) + ("\n" if trailing_newline else "")
