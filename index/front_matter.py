"""YAML front matter at the very top of a text or markdown file: its metadata and its span.

python-frontmatter finds the block and parses it, but its ``parse`` strips the text and the body,
which would move every offset after the block. So the handler is used directly: ``split`` leaves
the text as decoded, and the block's span is what precedes the body it returns. The span is only
ever skipped (the text itself is kept whole, because citations point into it).

The fences are the ones citeqa has always read: an opening ``---`` line, closed by the next
``---`` or ``...`` line (trailing spaces allowed), with the same line breaks as
``segment.iter_lines``. An unclosed opening fence is a horizontal rule, not front matter.
Values are read as plain strings (YAML's base loader resolves no types, so ``2024-11-27`` stays
as written); keys are matched case-insensitively; anything that is not a top-level string is
passed over, and a block that is not valid YAML gives no metadata but is still skipped.
"""

from __future__ import annotations

import re

import yaml
from frontmatter.default_handlers import YAMLHandler

from .deadline import Deadline, check
from .records import Span

# Real front matter is a few lines; past this the block is still skipped but not parsed, so no
# file can make the YAML parser (one call that the per-file deadline cannot interrupt) run long.
MAX_FRONT_MATTER_CHARS = 65_536

_LINE_BREAK = r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"  # str.splitlines()'s, as iter_lines
_FENCE = re.compile(rf"(?:\A|(?<={_LINE_BREAK}))(?:---|\.\.\.)[ \t]*(?={_LINE_BREAK}|\Z)")
# libyaml's loader when PyYAML was built with it (faster, and it bounds nesting depth itself).
_BASE_LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def parse_front_matter(
    text: str, deadline: Deadline | None = None
) -> tuple[dict[str, str], Span | None]:
    """The string values of the front matter block at the top of ``text`` (keys lower-cased,
    empty values left out) and the block's span, fences included; ``({}, None)`` when there is
    no block. Raises ``FileTimedOut`` past ``deadline``."""
    if not text.startswith("---"):
        return {}, None
    handler = YAMLHandler(fm_boundary=_FENCE)
    if not handler.detect(text):
        return {}, None
    try:
        block, body = handler.split(text)
    except ValueError:  # no closing fence
        return {}, None
    span = Span(0, len(text) - len(body))
    check(deadline)
    if len(block) > MAX_FRONT_MATTER_CHARS:
        return {}, span
    try:
        data = handler.load(block, Loader=_BASE_LOADER)
    except (yaml.YAMLError, RecursionError):  # the pure-Python loader recurses per nesting level
        return {}, span
    check(deadline)
    if not isinstance(data, dict):
        return {}, span
    return {
        key.lower(): value
        for key, value in data.items()
        if isinstance(key, str) and isinstance(value, str) and value
    }, span
