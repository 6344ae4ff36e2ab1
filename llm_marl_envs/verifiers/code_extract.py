"""Reading a program out of a model response, and a canonical key of it for voting.

Pure text work: nothing here executes, imports or evaluates model output (``ast.parse`` only parses).
"""

from __future__ import annotations

import ast
import hashlib
import re
import textwrap

_FENCE = re.compile(r"(```|~~~)[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:\1|\Z)", re.S)
_PY_TAGS = {"python", "py", "python3", "py3"}
MAX_PROGRAM_CHARS = 200_000


def extract_program(response: str, entry_point: str | None = None) -> str | None:
    """The program in ``response``: the last ```python (or ~~~python) fenced block, else the last
    fenced block of any language, else the raw text; with ``entry_point``, the last such block that
    defines it (a solution followed by an example-usage block). Indented fences (inside a markdown
    list) are dedented; an unterminated final fence counts (truncated generations). ``None`` when
    there is no code at all (empty or whitespace)."""
    if not isinstance(response, str):
        return None
    blocks = [(m.group(2).lower(), _body(response, m)) for m in _FENCE.finditer(response)]
    candidates = [body for tag, body in blocks if tag in _PY_TAGS] or [body for _, body in blocks]
    if candidates:
        program = candidates[-1]
        if entry_point:
            defining = [body for body in candidates if entry_point in (defined_names(body) or ())]
            program = defining[-1] if defining else program
    else:
        program = response
    program = program.strip("\n")
    if not program.strip():
        return None
    return program


def _body(response: str, m: re.Match) -> str:
    """A fenced block's text, dedented when the fence itself is indented (a block inside a markdown
    list); a completion-style block of an indented function body under a flush fence stays as is."""
    indent = response[response.rfind("\n", 0, m.start()) + 1 : m.start()]
    return textwrap.dedent(m.group(3)) if indent and not indent.strip() else m.group(3)


def defined_names(program: str) -> set[str] | None:
    """Top-level function/class names the program defines (``None`` when it does not parse)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _normalise_text(program: str) -> str:
    lines = []
    for line in program.replace("\r\n", "\n").split("\n"):
        stripped = line.rstrip()
        if not stripped or stripped.lstrip().startswith("#"):
            continue
        lines.append(stripped)
    return "\n".join(lines)


def program_key(program: str) -> str:
    """Canonical key of a program: a hash of its AST dump (formatting, comments and docstring-free
    layout do not matter), or of its normalised text when it does not parse."""
    if len(program) <= MAX_PROGRAM_CHARS:
        try:
            tree = ast.parse(program)
            return "ast:" + hashlib.sha256(ast.dump(tree).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            pass
    text = _normalise_text(program)
    return "txt:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def answer_key(response: str) -> str | None:
    """The voting key of a response's program; ``None`` when it has none. Never raises."""
    try:
        program = extract_program(response)
        return None if program is None else program_key(program)
    except Exception:  # noqa: BLE001 - total by contract
        return None
