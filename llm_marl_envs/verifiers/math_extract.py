"""Final-answer extraction from a model's response (untrusted text: never raises, linear time).

Order (the first rule that finds something wins):

1. ``<answer>…</answer>``: the last complete pair of tags. Inside it, a ``\\boxed{}`` or an
   "answer is" marker is honoured; otherwise the whole content is the answer.
2. ``\\boxed{…}`` / ``\\fbox{…}``: the last complete one, with brace matching (``\\boxed 5`` too).
3. A marker: the last "final answer is", "answer is", "answer:" or GSM8K's ``#### ``, up to the end of
   its line or sentence.
4. The last inline math span (``$…$``, ``\\(…\\)``) that looks like math (no plain words), or the last
   number in the text (integers with separators, decimals, ``a/b``), whichever comes later; a number
   on the right-hand side of an equation with variables is skipped (``3x - y + 13 = 0`` does not give
   ``0``; the span ``$3x - y + 13 = 0$`` gives the whole equation).

Only the last :data:`MAX_SCAN` characters are scanned.
"""

from __future__ import annotations

import re

MAX_SCAN = 50_000

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_MARKER_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|answer\s+is|answer\s*:|####)\s*(?:[:=]\s*)?",
    re.I,
)
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d])|(?<![\w.])-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?(?![\d])")
_ALGEBRA_BEFORE_EQ = re.compile(r"(?:[a-zA-Z]\s*[-+*/^]|\d\s*[a-zA-Z]|[-+*/^]\s*[a-zA-Z])")


def match_brace(text: str, open_idx: int) -> int:
    """Index of the ``}`` matching the ``{`` at ``open_idx`` (escaped ``\\{`` ignored), or -1."""
    depth = 0
    i, n = open_idx, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def brace_pairs(text: str) -> dict[int, int]:
    """``{index of "{": index of its matching "}"}`` for every balanced pair, in one linear pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def boxed_contents(text: str) -> list[str]:
    """Contents of every complete ``\\boxed{}``/``\\fbox{}`` in ``text``, in order (linear time)."""
    out = []
    pairs: dict[int, int] | None = None
    for m in _BOX_RE.finditer(text):
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            if pairs is None:
                pairs = brace_pairs(text)
            end = pairs.get(j, -1)
            if end >= 0:
                out.append(text[j + 1 : end])
        elif j > m.end():  # "\boxed 5": up to whitespace or "$"
            tok = re.match(r"[^\s$]+", text[j:])
            if tok:
                out.append(tok.group(0))
    return out


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{}`` (brace matching), or ``None``."""
    boxes = boxed_contents(text)
    return boxes[-1] if boxes else None


def _after_marker(text: str) -> str | None:
    last = None
    for m in _MARKER_RE.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end() :].lstrip(" \t*_")  # "**Answer:** 18"
    if not rest.split("\n", 1)[0].strip(" *_"):  # "**Final Answer:**\n18": the next non-empty line
        rest = rest.lstrip(" \t*_\n")
    rest = rest.split("\n", 1)[0]
    # end of sentence: ". " / "." at the end (a decimal point is followed by a digit)
    m = re.search(r"\.(?:\s|$)|\s+(?:I hope|because|since|which)\b", rest)
    if m:
        rest = rest[: m.start()]
    rest = rest.strip().strip("$").strip()
    rest = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", rest).strip()
    rest = rest.strip(" *_").rstrip(".,;:!").strip()
    return rest or None


# Math spans: display ($$…$$, \[…\], align/equation/gather environments, newlines allowed), then
# inline ($…$ on one line, \(…\)). Without the display forms, "the answer is \[ \frac{3}{4} \]" would
# fall through to the last number, 4.
_INLINE_MATH_RE = re.compile(
    r"\$\$(.{1,300}?)\$\$|\\\[(.{1,300}?)\\\]|\\begin\{(?:align|equation|gather)\*?\}(.{1,300}?)\\end\{(?:align|equation|gather)\*?\}"
    r"|\$([^$\n]{1,300}?)\$|\\\((.{1,300}?)\\\)",
    re.S,
)
_PLAIN_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")


def _last_inline_math(text: str) -> tuple[str, int] | None:
    """The last math span (see ``_INLINE_MATH_RE``) without plain words, and where it ends; of an
    equation chain or an aligned block, the part after the last ``=``."""
    best = None
    offset = max(0, len(text) - 5000)  # the final answer is near the end; keeps this linear
    for m in _INLINE_MATH_RE.finditer(text, offset):
        inner = next(g for g in m.groups() if g is not None).strip()
        if m.group(4) is None and m.group(5) is None:  # a display block: its last line's right-hand side
            inner = re.split(r"\\\\|\n", inner.strip())[-1].replace("&", "").strip() or inner
            inner = inner.rsplit("=", 1)[-1].strip() if "=" in inner else inner
        if inner and not _PLAIN_WORD_RE.search(re.sub(r"\\text\{[^{}]*\}", "", inner)):
            best = (inner, m.end())
    return best


def _last_number_match(text: str) -> re.Match | None:
    for m in reversed(list(_NUMBER_RE.finditer(text))):
        before = text[max(0, m.start() - 40) : m.start()].rstrip()
        if before.endswith("=") and _ALGEBRA_BEFORE_EQ.search(before.rsplit("\n", 1)[-1]):
            continue
        if before.endswith(("^", "_")):
            continue
        return m
    return None


def extract_answer(response: str) -> tuple[str | None, str]:
    """The final answer in ``response`` and the rule that found it (``"tag"``, ``"boxed"``,
    ``"marker"``, ``"last_number"``; ``"none"`` when nothing is found)."""
    if not isinstance(response, str) or not response:
        return None, "none"
    text = response[-MAX_SCAN:]
    lower = text.lower()
    close = lower.rfind("</answer>")
    start = lower.rfind("<answer>", 0, close) if close >= 0 else -1
    if start >= 0:
        inner = text[start + len("<answer>") : close]
        found = last_boxed(inner) or _after_marker(inner) or inner.strip()
        return (found.strip() or None), "tag"
    box = last_boxed(text)
    if box is not None:
        return box.strip(), "boxed"
    marked = _after_marker(text)
    if marked:
        return marked, "marker"
    num = _last_number_match(text)
    span = _last_inline_math(text)
    if span is not None and (num is None or span[1] >= num.end()):
        return span[0], "inline_math"
    if num is not None:
        return num.group(0), "last_number"
    return None, "none"
