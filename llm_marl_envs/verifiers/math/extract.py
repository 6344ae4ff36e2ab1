"""Final-answer extraction from a model's response (untrusted text: never raises, linear time).

Order (the first rule that finds something wins):

1. ``<answer>…</answer>``: the last complete pair of tags. Inside it, a ``\\boxed{}`` (rule 2, an
   empty or unclosed one included) or an "answer is" marker is honoured; otherwise the whole content
   is the answer.
2. ``\\boxed{…}`` / ``\\fbox{…}``: the last one decides, with brace matching (``\\boxed 5`` too). When
   the last one is empty (``\\boxed{}``) or never closed (a truncated generation), the response has
   **no answer**: earlier boxes and numbers are not used.
3. A marker: the last "final answer is", "answer is", "answer:" or GSM8K's ``#### ``, up to the end of
   its line or sentence (a disowned marker, ``The wrong answer is 34``, is taken as it stands). When that text opens with a word (``Final Answer: The largest $n$ is 34.``)
   it is a sentence, and the answer is the one value it *states*: its only math span or number (not
   counting spans that are a lone variable), right after a copula (``is``, ``are``, ``was``, ``were``,
   ``equals``, ``=``, ``:``; ``There are 34 ways``) or a verb of amount (``takes``, ``costs``, ``has``
   ...: ``It takes 34 minutes``) and followed by nothing but a unit
   (:func:`.words.is_unit_phrase`). Any other sentence -- no value or several (``Monday``, ``either
   12 or 34``), a negation (``The answer is not 5``), a hedge or condition anywhere
   (:func:`.words.is_uncertain`: ``My guess is 34``, ``If n is even, it is 34``), a qualifier between copula and value (``is at
   least 34``, ``is greater than 34``), no copula (``Anything but 34``, ``Half of 34``), words after the
   value (``is 34 or more``) or a question -- is the answer as it stands (then it matches only a gold
   written the same way).
4. The last math span (``$…$``, ``\\(…\\)``, display math) that looks like math, or the last number in
   the text (integers with separators, decimals, ``a/b``), whichever comes later; a number on the
   right-hand side of an equation with variables is skipped (``3x - y + 13 = 0`` does not give ``0``;
   the span ``$3x - y + 13 = 0$`` gives the whole equation). A value that a hedge qualifies
   (:func:`.words.hedged`: ``at least 34``, ``not 34``, ``greater than $34$``, ``34 or more``) is not
   stated: the answer is then the hedged phrase as it stands. A span looks like math when, once
   environment names (``\\begin{pmatrix}``) and the arguments of text commands (``\\text{…}``,
   ``\\textbf{meters}``) are set aside, it has no word in it (:mod:`.words`), or when it is one word
   alone (``$odd$``). An escaped ``\\$`` is a dollar sign, never a span delimiter.

Only the last :data:`MAX_SCAN` characters are scanned.
"""

from __future__ import annotations

import re

from .words import hedged, is_uncertain, is_unit_phrase, is_word, starts_with_prose

MAX_SCAN = 50_000

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
# a marker whose answer is disowned: "the wrong answer is 34", "an incorrect final answer: 34", "not the answer"
_DISOWNED_RE = re.compile(r"\b(?:wrong|incorrect|false|bad|not\s+the|not\s+an?|isn't\s+the)\s+(?:final\s+)?$", re.I)
_NEGATION_RE = re.compile(r"\b(?:not|no|never|cannot|neither|nor|isn't|aren't|can't|won't)\b|n't\b", re.I)
_FINAL_BEFORE_RE = re.compile(r"final\s+$")
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


def last_box_state(text: str) -> tuple[str, str | None]:
    """What the *last* ``\\boxed``/``\\fbox`` in ``text`` holds: ``("boxed", content)``,
    ``("empty_box", None)`` (``\\boxed{}`` or only spaces), ``("unclosed_box", None)`` (its ``{``
    never closes), or ``("none", None)`` when there is no box. A ``\\boxed`` without an argument
    (prose about the command) is skipped."""
    for m in reversed(list(_BOX_RE.finditer(text))):
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            end = match_brace(text, j)
            if end < 0:
                return "unclosed_box", None
            inner = text[j + 1 : end].strip()
            return ("boxed", inner) if inner else ("empty_box", None)
        tok = re.match(r"[^\s$]+", text[j:]) if j > m.end() else None
        if tok:
            return "boxed", tok.group(0)
    return "none", None


def _last_marker(text: str) -> re.Match | None:
    """The last match of :data:`_MARKER_RE` (same result as its last ``finditer`` match), found by
    looking back from the last "answer" / "####" instead of scanning the whole text."""
    lower = text.lower()
    best = None
    hashes = lower.rfind("####")
    if hashes >= 0:  # in a run of "#", the scan would match at the run's start + 4k
        run = hashes
        while run > 0 and text[run - 1] == "#":
            run -= 1
        best = _MARKER_RE.match(text, run + 4 * ((hashes - run) // 4))
    pos = len(lower)
    while True:
        pos = lower.rfind("answer", 0, pos)
        if pos < 0 or (best is not None and pos < best.start()):
            break
        fin = _FINAL_BEFORE_RE.search(lower, max(0, pos - 40), pos)
        m = (_MARKER_RE.match(text, fin.start()) if fin else None) or _MARKER_RE.match(text, pos)
        if m is not None:
            if best is None or m.start() > best.start():
                best = m
            break
    return best


def _after_marker(text: str, *, sentence: bool = False) -> str | None:
    """The text after the last marker, to the end of its line or sentence (see the module docstring);
    with ``sentence=True`` its math delimiters are kept (to read the answer inside it)."""
    last = _last_marker(text)
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
    if sentence:
        return rest.strip(" *_") or None
    rest = rest.strip().strip("$").strip()
    rest = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", rest).strip()
    rest = rest.strip(" *_").rstrip(".,;:!").strip()
    return rest or None


# Math spans: display ($$…$$, \[…\], align/equation/gather environments, newlines allowed), then
# inline ($…$ on one line, \(…\)). Without the display forms, "the answer is \[ \frac{3}{4} \]" would
# fall through to the last number, 4.
_INLINE_MATH_RE = re.compile(
    r"(?<!\\)\$\$((?:\\.|[^$\\]){1,300}?)\$\$|\\\[(.{1,300}?)\\\]"
    r"|\\begin\{(?:align|equation|gather)\*?\}(.{1,300}?)\\end\{(?:align|equation|gather)\*?\}"
    r"|(?<!\\)\$((?:\\.|[^$\\\n]){1,300}?)\$|\\\((.{1,300}?)\\\)",
    re.S,
)
_PLAIN_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
# set aside before looking for words: environment names and the arguments of text commands
_NOT_WORDS_RE = re.compile(
    r"\\(?:begin|end)\s*\{[^{}]*\}"
    r"|\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mathsf|mbox|operatorname)\s*\{[^{}]*\}"
)
_ONE_WORD_RE = re.compile(r"\s*(?:\\(?:text|textbf|textit|textrm|mathrm|mbox)\s*\{\s*)?[A-Za-z]+\s*\}?\s*")


def _span_is_math(inner: str) -> bool:
    """Whether a math span holds an answer: no word once environment names and text arguments are
    set aside (``\\begin{pmatrix}…``, ``5\\textbf{ meters}``), or a single word alone (``$odd$``)."""
    if _ONE_WORD_RE.fullmatch(inner):
        return True
    rest = _NOT_WORDS_RE.sub(" ", inner)
    if not rest.strip():  # only text commands ("$\\text{so we get}$"): math when their text has no word
        rest = inner
    return not any(is_word(w) for w in _PLAIN_WORD_RE.findall(rest))


def _last_line(block: str) -> str:
    """The last line of a display block: split at ``\\\\`` and newlines outside environments
    (a ``pmatrix``'s rows stay together)."""
    depth, start, i, n = 0, 0, 0, len(block)
    last = block
    while i < n:
        if block.startswith("\\begin", i):
            depth += 1
        elif block.startswith("\\end", i):
            depth = max(0, depth - 1)
        elif depth == 0 and (block.startswith("\\\\", i) or block[i] == "\n"):
            piece = block[start:i].strip()
            if piece:
                last = piece
            start = i + (2 if block[i] == "\\" else 1)
            i = start
            continue
        i += 1
    piece = block[start:].strip()
    return piece if piece else (last if start else block)


def _last_inline_math(text: str) -> tuple[str, int, int] | None:
    """The last math span (see ``_INLINE_MATH_RE``) without plain words, and where it starts and
    ends; of an equation chain or an aligned block, the part after the last ``=``."""
    best = None
    offset = max(0, len(text) - 5000)  # the final answer is near the end; keeps this linear
    for m in _INLINE_MATH_RE.finditer(text, offset):
        inner = next(g for g in m.groups() if g is not None).strip()
        if m.group(4) is None and m.group(5) is None:  # a display block: its last line's right-hand side
            line = _last_line(inner)
            if "\\begin" not in line:
                line = line.replace("&", "")
            inner = line.strip() or inner
            inner = inner.rsplit("=", 1)[-1].strip() if "=" in inner else inner
        if inner and _span_is_math(inner):
            best = (inner, m.start(), m.end())
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
    ``"marker"``, ``"marker_sentence"``, ``"inline_math"``, ``"last_number"``); ``None`` with
    ``"none"``, ``"empty_box"`` or ``"unclosed_box"`` when there is no answer."""
    if not isinstance(response, str) or not response:
        return None, "none"
    text = response[-MAX_SCAN:]
    lower = text.lower()
    close = lower.rfind("</answer>")
    start = lower.rfind("<answer>", 0, close) if close >= 0 else -1
    if start >= 0:
        inner = text[start + len("<answer>") : close]
        state, box = last_box_state(inner)
        if state in ("empty_box", "unclosed_box"):
            return None, state
        found = box or _after_marker(inner) or inner.strip()
        return (found.strip() or None), "tag"
    state, box = last_box_state(text)
    if state == "boxed":
        return box, "boxed"
    if state != "none":
        return None, state
    marked = _after_marker(text)
    if marked:
        at = _last_marker(text).start()
        disowned = _DISOWNED_RE.search(text[max(0, at - 30) : at])
        if disowned:  # "The wrong answer is 34": taken as it stands
            return (disowned.group(0) + "answer " + marked).strip(), "marker"
        # "Final Answer: The largest $n$ is 34."; never a negation or a hedge ("Maybe it is 34")
        if starts_with_prose(marked) and not _NEGATION_RE.search(marked) and not is_uncertain(marked):
            found = _the_one_value(_after_marker(text, sentence=True) or marked)
            if found is not None:
                return found, "marker_sentence"
        return marked, "marker"
    return _last_math_or_number(text)


_LONE_VARIABLE_RE = re.compile(r"[A-Za-z](?:_\{?\w+\}?)?")


# a copula or a verb that states an amount ("It takes 34 minutes", "It costs $34$"), right before the value
_COPULA_BEFORE_RE = re.compile(
    r"(?:\b(?:is|are|was|were|equals|has|have|had|holds|takes|took|costs|cost|needs|gets|got|makes|made|weighs"
    r"|contains|gives|yields|becomes|totals|measures|earns|earned|pays|paid|spends|spent|saves|saved|comes\s+to"
    r"|amounts\s+to)(?:\s+exactly)?|[=:])\s*$",
    re.I,
)


def _the_one_value(sentence: str) -> str | None:
    """The one value a sentence states (rule 3 of the module docstring): its only math span or
    number, not counting spans that are a lone variable, right after a copula and followed by at
    most a unit (``The largest $n$ is 34`` -> ``34``); ``None`` for any other sentence."""
    values: list[tuple[str, int, int]] = []  # (value, start, end) in ``sentence``
    blanked = []
    pos = 0
    for m in _INLINE_MATH_RE.finditer(sentence):
        inner = next(g for g in m.groups() if g is not None).strip()
        blanked.append(sentence[pos : m.start()] + " " * (m.end() - m.start()))
        pos = m.end()
        if inner and not _LONE_VARIABLE_RE.fullmatch(inner):
            values.append((inner, m.start(), m.end()))
    blanked.append(sentence[pos:])
    values += [(n.group(0), n.start(), n.end()) for n in _NUMBER_RE.finditer("".join(blanked))]
    if len(values) != 1 or "?" in sentence:
        return None
    value, start, end = values[0]
    before, after = sentence[:start], sentence[end:].strip(" \t.,;!*_$")
    if not _COPULA_BEFORE_RE.search(before) or not _COPULA_BEFORE_RE.sub("", before).strip():
        return None  # "Anything but 34", "Half of 34", "is at least 34"; "Is 34" has no subject
    if after and not is_unit_phrase(after):
        return None  # "is 34 or more", "is 34 minus something"
    return value if _span_is_math(value) else None


def _as_stated(text: str, start: int, end: int, value: str) -> str:
    """``value`` (found at ``text[start:end]``), or -- when a hedge qualifies it (``at least 34``) --
    the hedged phrase on its line, as it stands."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before, after = text[max(line_start, start - 60) : start], text[end : min(line_end, end + 40)]
    if not hedged(before, after):
        return value
    return (before + text[start:end] + after).strip()


def _last_math_or_number(text: str) -> tuple[str | None, str]:
    """Rule 4: the later of the last math span and the last number (as stated, see :func:`_as_stated`)."""
    num = _last_number_match(text)
    span = _last_inline_math(text)
    if span is not None and (num is None or span[2] >= num.end()):
        return _as_stated(text, span[1], span[2], span[0]), "inline_math"
    if num is not None:
        return _as_stated(text, num.start(), num.end(), num.group(0)), "last_number"
    return None, "none"
