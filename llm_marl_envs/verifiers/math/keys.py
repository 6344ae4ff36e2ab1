"""Canonical answer keys for voting: two responses with equal keys give the same answer."""

from __future__ import annotations

from .equiv import TooBig, free_symbols, numeric_value, try_exact
from .normalize import normalize_answer
from .parse import MAX_CHARS, Node, ParseError, canonical_text, parse_answer
from .pipeline import extract_final
from .surd import NotSurd, surd_key, surd_value

__all__ = ["answer_key", "tree_key"]


def tree_key(node: Node) -> str:
    """A canonical string of a parse tree: equal values (``0.5``, ``\\frac12``) give equal keys."""
    kind = node[0]
    if kind == "text":
        return f"text:{node[1]}"
    if kind == "claim":
        return tree_key(node[1])
    if kind == "label":
        return tree_key(node[2])
    if kind == "named":
        return f"{tree_key(node[1])}={tree_key(node[2])}"
    if kind == "list" and node[1] and all(a[0] == "named" for a in node[1]):  # assignments: any order
        return "(" + ",".join(sorted(tree_key(a) for a in node[1])) + ")"
    if kind in ("tuple", "list"):
        return "(" + ",".join(tree_key(a) for a in node[1]) + ")"
    if kind == "ratio":
        return ":".join(tree_key(a) for a in node[1])
    if kind == "set":
        return "{" + ",".join(sorted(set(tree_key(a) for a in node[1]))) + "}"
    if kind == "interval":
        return ("[" if node[1] else "(") + tree_key(node[2]) + "," + tree_key(node[3]) + ("]" if node[4] else ")")
    if kind == "chain":
        return f"{tree_key(node[2])}{node[1]}{tree_key(node[3])}{node[4]}{tree_key(node[5])}"
    if kind == "union":
        return "U".join(sorted(tree_key(a) for a in node[1]))
    if kind == "matrix":
        return "[" + ";".join(",".join(tree_key(a) for a in row) for row in node[1]) + "]"
    try:
        v = try_exact(node)
    except TooBig:
        v = None
    if v is not None:
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    try:
        return surd_key(surd_value(node))
    except (NotSurd, ZeroDivisionError):
        pass
    if not free_symbols(node) and kind not in ("eq", "rel"):
        try:
            import mpmath

            val = numeric_value(node, {})
            return "~" + mpmath.nstr(val, 15)
        except Exception:
            pass
    return repr(node)


def answer_key(response: str) -> str | None:
    """Canonical key of the answer in ``response`` (``"1/2"`` for ``0.5``, ``\\frac12``, ``\\dfrac{1}{2}``);
    ``None`` when no answer is found. Never raises."""
    try:
        extracted, _ = extract_final(response)
        if extracted is None:
            return None
        try:
            return tree_key(parse_answer(extracted))
        except ParseError:
            return "text:" + canonical_text(normalize_answer(extracted[:MAX_CHARS]))
    except Exception:
        return None
