"""A small, safe parser from answer strings (LaTeX or plain text) to an expression tree.

No ``eval``, no ``sympy.parse_expr``: a tokenizer and a recursive-descent parser with hard limits
(:data:`MAX_CHARS` characters, :data:`MAX_NODES` nodes, :data:`MAX_DEPTH` nesting) build plain tuples
that are hashable (cacheable) and JSON-serialisable (they cross to the sympy worker process).

Nodes: ``("num", Fraction)``, ``("sym", name)``, ``("const", "pi"|"E"|"I"|"oo")``, ``("add", (a, ...))``,
``("mul", (a, ...))``, ``("div", a, b)``, ``("neg", a)``, ``("pow", a, b)``, ``("fn", name, (args...))``,
``("fact", a)``, ``("sum"|"prod", index, lo, hi, body)``, ``("eq", a, b)``, ``("rel", op, a, b)``,
``("chain", op1, a, b, op2, c)`` (``a op1 b op2 c`` with ``op`` ``<``/``<=``), ``("label", name, value)``,
``("ratio", items)``, ``("tuple", items)``, ``("set", items)``, ``("list", items)`` (a bare comma list;
``("list", items, "same name")`` for values of one name, ``x = 2, x = 3``),
``("interval", left_closed, a, b, right_closed)``, ``("union", items)``, ``("matrix", rows)``, ``("text", s)``,
``("claim", value, checks)``.

Conventions (each a rule, applied everywhere):

- ``e`` is Euler's number and ``i`` the imaginary unit (except as the index of ``\\sum``/``\\prod``);
  ``x^\\circ`` inside a trig function is degrees (``\\sin 60^\\circ`` = sin(pi/3)) and elsewhere just ``x``;
- ``(a, b)`` is a tuple that also equals the open interval; ``[a, b]``, ``(a, b]``, ``[a, b)`` are
  intervals; ``\\{…\\}`` and a bare ``a, b`` are sets; ``a \\pm b`` and a unary ``\\pm b`` are sets;
- ``and``/``or`` between answers separate them, with or without spaces (``(11,7)or(7,11)``); a ``;``
  separates whole solutions when one has several parts (``p=5,q=2; p=7,q=2``), else it is a comma;
- ``a : b`` is a ratio; ``!=``, ``\\neq``, ``\\ne``, ``\\not=`` are "not equal" (a factorial before
  ``=`` needs a space: ``3! = 6``); ``a \\approx b`` states ``a`` (``x \\approx b`` states ``b``);
- what an answer claims along the way is kept as ``("claim", value, checks)``: ``a \\approx b`` checks
  ``("~", a, b)`` and every constant step of an equation chain with a constant result checks
  ``("=", step, result)`` (``x = \\frac62 = 3``, ``16 - 3 - 4 = 9``); a false claim (``3 \\approx 100``,
  ``x = 1 = 2``, ``34 = 35``) makes the answer wrong (:func:`.equiv.compare`);
- ``3 < x \\le 4`` is an interval; a chain on an expression (``0 < f(x) < 1``) is kept as a chain;
- equations: see :func:`_label_value` (``x = 3`` is 3, ``|AB| = 1`` is 1, ``7 = 11a + c`` stays an equation).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from .normalize import normalize_answer

MAX_CHARS = 1000
MAX_NODES = 600
MAX_DEPTH = 80

Node = tuple


class ParseError(ValueError):
    """The string is not a supported expression (the answer is wrong, status ``"ok"``)."""


class LimitExceeded(ParseError):
    """The string exceeds a size, node or nesting limit (status ``"error"``: not judged)."""


TRIG = {"sin", "cos", "tan", "cot", "sec", "csc"}
FUNCS = TRIG | {"arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log", "ln", "exp", "lg"}
GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}
# plain words the tokenizer reads as commands (longest first)
WORDS = sorted(FUNCS | {"sqrt", "pi", "infty", "inf", "oo"}, key=len, reverse=True)
RELATIONS = {"<": "<", ">": ">", "le": "<=", "leq": "<=", "ge": ">=", "geq": ">=", "ne": "!=", "neq": "!=", "lt": "<", "gt": ">"}
MATRIX_ENVS = {"pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix", "array", "smallmatrix"}
_TOKEN_RE = re.compile(r"\s+|(\d+(?:\.\d+)?|\.\d+)|\\([a-zA-Z]+)|\\(.)|([a-zA-Z]+)|(\*\*|!=)|(.)", re.S)
_SINGLE_OPS = set("+-*/^_()[]{},!=|&°'<>;:")


def tokenize(s: str) -> list[tuple[str, str]]:
    """Tokens ``(kind, text)`` with kinds ``num``, ``id``, ``cmd``, ``op``."""
    toks: list[tuple[str, str]] = []
    for m in _TOKEN_RE.finditer(s):
        num, cmd, esc, word, dstar, op = m.groups()
        if num is not None:
            toks.append(("num", num))
        elif cmd is not None:
            toks += _split_command(cmd)
        elif esc is not None:
            if esc in "{}|":
                toks.append(("op", "\\" + esc))
            elif esc == "\\":
                toks.append(("op", "\\\\"))
            else:
                raise ParseError(f"unsupported escape \\{esc}")
        elif word is not None:
            i = 0
            while i < len(word):
                for w in WORDS:
                    if word.startswith(w, i) and (len(w) > 1):
                        toks.append(("cmd", w))
                        i += len(w)
                        break
                else:
                    toks.append(("id", word[i]))
                    i += 1
        elif dstar == "!=":  # "!=" is "not equal" (a factorial before "=" needs a space: "3! = 6")
            toks.append(("cmd", "neq"))
        elif dstar is not None:
            toks.append(("op", "^"))
        elif op is not None:
            if op not in _SINGLE_OPS:
                raise ParseError(f"unexpected character {op!r}")
            toks.append(("op", op))
    # "\not=" / "\not<": a negated relation; only "\not=" (= "\neq") is supported
    for j in range(len(toks) - 1):
        if toks[j] == ("cmd", "not") and toks[j + 1] == ("op", "="):
            toks[j : j + 2] = [("cmd", "neq"), ("op", "")]
    return [t for t in toks if t != ("op", "")]


_KNOWN_CMDS = FUNCS | GREEK | {"pi", "sqrt", "frac", "cdot", "times", "div", "pm", "mp", "infty", "binom", "in", "le", "ge",
                                "approx", "sum", "prod", "neq", "not"}
_SPLIT_PREFIXES = sorted(FUNCS | GREEK | {"pi", "sqrt", "cdot", "times", "infty"}, key=len, reverse=True)


def _split_command(cmd: str) -> list[tuple[str, str]]:
    """``\\cotx`` (a missing space) reads as ``\\cot x``; other commands are kept whole."""
    if cmd in _KNOWN_CMDS or len(cmd) > 40:
        return [("cmd", cmd)]
    for w in _SPLIT_PREFIXES:
        if cmd.startswith(w) and len(cmd) > len(w):
            return [("cmd", w)] + [("id", c) for c in cmd[len(w) :]]
    return [("cmd", cmd)]


def _is(tok: tuple[str, str] | None, kind: str, text: str | None = None) -> bool:
    return tok is not None and tok[0] == kind and (text is None or tok[1] == text)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.pos = 0
        self.nodes = 0
        self.depth = 0

    # -- helpers ---------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.pos + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end of input")
        self.pos += 1
        return tok

    def expect(self, kind: str, text: str) -> None:
        tok = self.take()
        if tok != (kind, text):
            raise ParseError(f"expected {text!r}, got {tok[1]!r}")

    def node(self, *parts) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise LimitExceeded("expression too complex")
        return tuple(parts)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitExceeded("expression nested too deeply")

    # -- grammar ---------------------------------------------------------------------------------
    def parse_seq(self, semicolons: bool = True) -> list[Node]:
        """Items separated by commas (and by ``;`` unless ``semicolons`` is False: at the top level a
        ``;`` separates whole solutions, see :func:`parse_answer`)."""
        items = [self.parse_relation()]
        while _is(self.peek(), "op", ",") or (semicolons and _is(self.peek(), "op", ";")):
            self.take()
            nxt = self.peek()
            if nxt is None or (nxt[0] == "op" and nxt[1] in (")", "]", "}", "\\}")):
                break
            items.append(self.parse_relation())
        return items

    def _relation_op(self) -> str | None:
        """Consume a relation operator (``<``, ``\\le``, ``>=`` ...) if one comes next."""
        tok = self.peek()
        if tok is None or not ((tok[0] == "op" and tok[1] in "<>") or (tok[0] == "cmd" and tok[1] in RELATIONS)):
            return None
        self.take()
        op = RELATIONS[tok[1]]
        if _is(self.peek(), "op", "=") and not op.endswith("="):
            self.take()
            op += "="
        return op

    def _chained(self, op: str, a: Node, b: Node) -> Node:
        """``a op b``, or with a second relation after it (``3 < x \\le 4``) the interval it bounds."""
        op2 = self._relation_op()
        if op2 is None:
            return self.node("rel", op, a, b)
        c = self.parse_expr()
        if op[0] != op2[0] or "!" in op + op2:
            raise ParseError("a chain of relations in opposite directions")
        if op[0] == ">":  # "c > b > a" is "a < b < c"
            flip = {">": "<", ">=": "<="}
            a, op, c, op2 = c, flip[op2], a, flip[op]
        if b[0] == "sym":  # "3 < x <= 4" is the interval (3, 4]
            return self.node("interval", op == "<=", a, c, op2 == "<=")
        # "1 \le |z| \le 3/2", "0 < f(x) < 1": a chain on an expression, kept whole
        return self.node("chain", op, a, b, op2, c)

    def parse_ratio(self) -> Node:
        """``a : b : c`` (a ratio, compared term by term) or a single expression."""
        items = [self.parse_expr()]
        while _is(self.peek(), "op", ":"):
            self.take()
            items.append(self.parse_expr())
        return items[0] if len(items) == 1 else self.node("ratio", tuple(items))

    def parse_relation(self) -> Node:
        parts = [self.parse_ratio()]
        op = None
        checks: list[tuple[str, Node, Node]] = []  # what the answer claims along the way (see _claim)
        joins: list[str] = []  # "=" or "in" before each later part
        while True:
            tok = self.peek()
            if _is(tok, "cmd", "approx"):  # "\frac13 \approx 0.333" states 1/3; "x \approx 2.5" states 2.5
                self.take()
                approx = self.parse_ratio()
                if len(parts) == 1 and parts[0][0] == "sym":
                    parts.append(approx)
                    joins.append("=")
                else:
                    checks.append(("~", parts[-1], approx))
            elif _is(tok, "op", "=") or _is(tok, "cmd", "in"):
                self.take()
                parts.append(self.parse_ratio())
                joins.append(tok[1] if tok[1] == "=" else "in")
            elif tok is not None and ((tok[0] == "op" and tok[1] in "<>") or (tok[0] == "cmd" and tok[1] in RELATIONS)):
                self.take()
                op = RELATIONS[tok[1]]
                if _is(self.peek(), "op", "="):
                    self.take()
                    op += "=" if not op.endswith("=") else ""
                parts.append(self.parse_expr())
                return self._chained(op, parts[-2], parts[-1])
            else:
                break
        core = parts[0] if len(parts) == 1 else self.node("eq", parts[0], parts[-1])
        last = parts[-1]
        if len(parts) > 1 and not _has_symbols(last) and all(j == "=" for j in joins):
            # "x = \frac{6}{2} = 3", "16 - 3 - 4 = 9": every constant step must equal the result
            checks += [("=", p, last) for p in parts[:-1] if not _has_symbols(p)]
        return self.node("claim", core, tuple(checks)) if checks else core

    def parse_expr(self) -> Node:
        self.enter()
        pm = None
        if _is(self.peek(), "cmd", "pm") or _is(self.peek(), "cmd", "mp"):  # "\pm 2021": a unary sign
            pm = (self.take()[1], 0)
        terms = [self.parse_term()]
        while True:
            tok = self.peek()
            if _is(tok, "op", "+"):
                self.take()
                terms.append(self.parse_term())
            elif _is(tok, "op", "-"):
                self.take()
                terms.append(self.node("neg", self.parse_term()))
            elif _is(tok, "cmd", "pm") or _is(tok, "cmd", "mp"):
                self.take()
                if pm is not None:
                    raise ParseError("more than one \\pm")
                pm = (tok[1], len(terms))
                terms.append(self.parse_term())
            elif _is(tok, "cmd", "cup"):
                self.take()
                left = terms[0] if len(terms) == 1 else self.node("add", tuple(terms))
                right = self.parse_expr()
                self.depth -= 1
                items = (left,) + (right[1] if right[0] == "union" else (right,))
                return self.node("union", items)
            else:
                break
        self.depth -= 1
        if pm is not None:
            kind, idx = pm
            plus = terms[:idx] + [terms[idx]] + terms[idx + 1 :]
            minus = terms[:idx] + [self.node("neg", terms[idx])] + terms[idx + 1 :]
            if kind == "mp":
                plus, minus = minus, plus
            return self.node("pm", self.node("add", tuple(plus)), self.node("add", tuple(minus)))
        return terms[0] if len(terms) == 1 else self.node("add", tuple(terms))

    def _starts_factor(self, tok: tuple[str, str] | None) -> bool:
        if tok is None:
            return False
        kind, text = tok
        if kind in ("num", "id"):
            return True
        if kind == "op":
            return text in ("(", "{")
        return text not in RELATIONS and text not in ("cdot", "times", "div", "pm", "mp", "cup", "rfloor", "rceil", "end", "to", "in", "approx", "not")

    def parse_term(self) -> Node:
        factors = [self.parse_unary()]
        while True:
            tok = self.peek()
            if _is(tok, "op", "*") or _is(tok, "cmd", "cdot") or _is(tok, "cmd", "times"):
                self.take()
                factors.append(self.parse_unary())
            elif _is(tok, "op", "/") or _is(tok, "cmd", "div"):
                self.take()
                den = self.parse_unary()
                num = factors[0] if len(factors) == 1 else self.node("mul", tuple(factors))
                factors = [self.node("div", num, den)]
            elif self._starts_factor(tok):
                if tok[0] == "num" and self.toks[self.pos - 1][0] == "num":
                    break  # "12 15" is two numbers, never 180
                factors.append(self.parse_power())
            else:
                break
        return factors[0] if len(factors) == 1 else self.node("mul", tuple(factors))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if _is(tok, "op", "-"):
            self.take()
            self.enter()
            inner = self.parse_unary()
            self.depth -= 1
            return self.node("neg", inner)
        if _is(tok, "op", "+"):
            self.take()
            return self.parse_unary()
        return self.parse_power()

    def parse_power(self) -> Node:
        base = self.parse_postfix()
        if _is(self.peek(), "op", "^"):
            self.take()
            exp = self.parse_exponent()
            base = self.node("pow", base, exp)
            while _is(self.peek(), "op", "!"):
                self.take()
                base = self.node("fact", base)
        return base

    def parse_exponent(self) -> Node:
        self.enter()
        tok = self.peek()
        if _is(tok, "op", "-"):
            self.take()
            exp = self.node("neg", self.parse_exponent())
        elif _is(tok, "op", "+"):
            self.take()
            exp = self.parse_exponent()
        elif _is(tok, "op", "°"):
            self.take()
            exp = self.node("degmark")
        else:
            exp = self.parse_postfix()
            if _is(self.peek(), "op", "^"):
                self.take()
                exp = self.node("pow", exp, self.parse_exponent())
        self.depth -= 1
        return exp

    def parse_postfix(self) -> Node:
        node = self.parse_atom()
        while True:
            tok = self.peek()
            if _is(tok, "op", "!"):
                self.take()
                node = self.node("fact", node)
            elif _is(tok, "op", "°"):
                self.take()
                node = self.node("deg", node)
            elif _is(tok, "op", "_") and node[0] == "sym":
                self.take()
                sub = self.take_subscript()
                node = self.node("sym", f"{node[1]}_{sub}")
            else:
                return node

    def take_subscript(self) -> str:
        tok = self.take()
        if tok == ("op", "{"):
            parts = []
            while not _is(self.peek(), "op", "}"):
                t = self.take()
                if t[0] == "op" and t[1] in "{(":
                    raise ParseError("nested subscript")
                parts.append(t[1])
                if len(parts) > 20:
                    raise LimitExceeded("subscript too long")
            self.take()
            return "".join(parts)
        if tok[0] == "num":
            if len(tok[1]) > 1:  # x_12 in LaTeX is x_1 2; read a single digit
                self.toks[self.pos - 1 : self.pos] = [("num", tok[1][0]), ("num", tok[1][1:])]
                self.pos -= 1
                self.take()
                return tok[1][0]
            return tok[1]
        if tok[0] in ("id", "cmd"):
            return tok[1]
        raise ParseError("bad subscript")

    def group(self, close: str) -> Node:
        items = self.parse_seq()
        self.expect("op", close)
        return items[0] if len(items) == 1 else self.node("tuple", tuple(items))

    def parse_arg(self) -> Node:
        """A LaTeX macro argument: ``{...}``, one digit, one letter, or one command atom."""
        tok = self.peek()
        if _is(tok, "op", "{"):
            self.take()
            return self.group("}")
        if tok is not None and tok[0] == "num":
            self.take()
            if len(tok[1]) > 1 and "." not in tok[1]:
                self.toks.insert(self.pos, ("num", tok[1][1:]))
                return self.node("num", Fraction(tok[1][0]))
            return self.node("num", Fraction(tok[1]))
        return self.parse_atom()

    def parse_atom(self) -> Node:
        self.enter()
        try:
            return self._atom()
        finally:
            self.depth -= 1

    def _atom(self) -> Node:
        tok = self.take()
        kind, text = tok
        if kind == "num":
            value = self.node("num", Fraction(text))
            if "." not in text and _is(self.peek(), "cmd", "frac"):
                mixed = self._mixed_fraction()
                if mixed is not None:  # 3\frac{1}{2} is the mixed number 7/2
                    return self.node("add", (value, mixed))
            return value
        if kind == "id":
            if text == "e":
                return self.node("const", "E")
            if text == "i":
                return self.node("const", "I")
            return self.node("sym", text)
        if kind == "op":
            if text in ("(", "["):
                items = self.parse_seq()
                close = self.take()
                if close not in (("op", ")"), ("op", "]")):
                    raise ParseError(f"unbalanced {text}")
                lc, rc = text == "[", close[1] == "]"
                if len(items) == 1 and text == "(" and not rc:
                    return items[0]
                if len(items) == 1 and text == "[" and rc:
                    return items[0]
                if len(items) == 2 and (lc or rc):
                    return self.node("interval", lc, items[0], items[1], rc)
                if len(items) == 2 or not (lc or rc):
                    return self.node("tuple", tuple(items))
                raise ParseError("bad bracket")
            if text == "{":
                items = self.parse_seq()
                self.expect("op", "}")
                return items[0] if len(items) == 1 else self.node("set", tuple(items))
            if text == "\\{":
                if _is(self.peek(), "op", "\\}"):
                    self.take()
                    return self.node("set", ())
                items = self.parse_seq()
                self.expect("op", "\\}")
                return self.node("set", tuple(items))
            if text in ("|", "\\|"):
                inner = self.parse_expr()
                self.expect("op", text)
                return self.node("fn", "abs", (inner,))
            raise ParseError(f"unexpected {text!r}")
        return self._command(text)

    def _mixed_fraction(self) -> Node | None:
        """After an integer: ``\\frac{p}{q}`` with integer literals p < q, else None (position kept)."""
        save, toks = self.pos, list(self.toks)
        self.take()
        try:
            frac = self._command("frac")
        except ParseError:
            frac = None
        if frac is not None and frac[1][0] == "num" and frac[2][0] == "num":
            p, q = frac[1][1], frac[2][1]
            if p.denominator == 1 and q.denominator == 1 and 0 < p < q:
                return frac
        self.pos, self.toks = save, toks
        return None

    def _command(self, name: str) -> Node:
        if name == "frac":
            num = self.parse_arg()
            den = self.parse_arg()
            return self.node("div", num, den)
        if name == "sqrt":
            index = None
            if _is(self.peek(), "op", "["):
                self.take()
                index = self.group("]")
            arg = self.parse_paren_or_arg()
            if index is None:
                return self.node("fn", "sqrt", (arg,))
            return self.node("pow", arg, self.node("div", self.node("num", Fraction(1)), index))
        if name in ("sum", "prod"):
            return self.parse_big_operator(name)
        if name in ("binom", "dbinom", "tbinom", "choose"):
            n = self.parse_arg()
            k = self.parse_arg()
            return self.node("fn", "binom", (n, k))
        if name == "pi":
            return self.node("const", "pi")
        if name in ("infty", "inf", "oo", "infinity"):
            return self.node("const", "oo")
        if name in ("emptyset", "varnothing"):
            return self.node("set", ())
        if name in GREEK:
            return self.node("sym", name.replace("var", ""))
        if name in ("lfloor", "lceil"):
            inner = self.parse_expr()
            self.expect("cmd", "rfloor" if name == "lfloor" else "rceil")
            return self.node("fn", "floor" if name == "lfloor" else "ceil", (inner,))
        if name == "begin":
            return self.parse_matrix()
        if name in FUNCS:
            return self.parse_function(name)
        raise ParseError(f"unsupported command \\{name}")

    def parse_big_operator(self, name: str) -> Node:
        """``\\sum_{k=a}^{b} body`` / ``\\prod_{k=a}^{b} body`` -> ``(name, "k", a, b, body)``; the body
        is one term (``\\sum_{k=1}^{n} k^2 + 1`` adds 1 to the sum)."""
        self.expect("op", "_")
        self.expect("op", "{")
        var = self.take()
        if var[0] not in ("id", "cmd") or var[1] not in GREEK and var[0] == "cmd":
            raise ParseError(f"\\{name} needs an index variable")
        self.expect("op", "=")
        lo = self.parse_expr()
        self.expect("op", "}")
        self.expect("op", "^")
        hi = self.parse_arg()
        body = self.parse_term()
        if var[1] in ("i", "e"):  # the index, not the imaginary unit / Euler's number
            body = _const_to_sym(body, {"i": "I", "e": "E"}[var[1]], var[1])
        return self.node(name, var[1], lo, hi, body)

    def parse_paren_or_arg(self) -> Node:
        if _is(self.peek(), "op", "("):
            self.take()
            return self.group(")")
        return self.parse_arg()

    def parse_function(self, name: str) -> Node:
        base = None
        power = None
        if name == "log" and _is(self.peek(), "op", "_"):
            self.take()
            base = self.parse_arg()
        if _is(self.peek(), "op", "^"):
            self.take()
            power = self.parse_exponent()
        tok = self.peek()
        if _is(tok, "op", "(") or _is(tok, "op", "{"):
            self.take()
            arg = self.group(")" if tok[1] == "(" else "}")
        else:
            arg = self.parse_power()
            while (t := self.peek()) is not None and t[0] in ("num", "id"):
                arg = self.node("mul", (arg, self.parse_power()))
        if name in TRIG:
            arg = _degrees_to_radians(arg)
        if name == "ln":
            name = "log"
        if name == "lg":
            name, base = "log", self.node("num", Fraction(10))
        if power == ("neg", ("num", Fraction(1))) and name in ("sin", "cos", "tan"):
            return self.node("fn", "arc" + name, (arg,))  # \sin^{-1} x is arcsin x
        fn = self.node("fn", name, (arg,) if base is None else (arg, base))
        return fn if power is None else self.node("pow", fn, power)

    def _env_name(self) -> str:
        self.expect("op", "{")
        parts = []
        while not _is(self.peek(), "op", "}"):
            parts.append(self.take()[1])
            if len(parts) > 20:
                raise ParseError("bad environment name")
        self.take()
        return "".join(parts)

    def parse_matrix(self) -> Node:
        env = self._env_name()
        if env not in MATRIX_ENVS:
            raise ParseError(f"unsupported environment {env}")
        if env == "array" and _is(self.peek(), "op", "{"):  # column spec
            while not _is(self.take(), "op", "}"):
                pass
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        while True:
            tok = self.peek()
            if _is(tok, "cmd", "end"):
                self.take()
                self._env_name()
                break
            row.append(self.parse_expr())
            tok = self.take()
            if tok == ("op", "&"):
                continue
            if tok == ("op", "\\\\"):
                rows.append(tuple(row))
                row = []
                continue
            if tok == ("cmd", "end"):
                self.pos -= 1
                continue
            raise ParseError("bad matrix")
        if row:
            rows.append(tuple(row))
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return self.node("matrix", tuple(rows))


def _const_to_sym(node, const: str, name: str):
    """``node`` with the constant ``const`` read as the variable ``name``."""
    if node == ("const", const):
        return ("sym", name)
    if isinstance(node, tuple):
        return tuple(_const_to_sym(x, const, name) for x in node)
    return node


def _degrees_to_radians(node: Node) -> Node:
    if node[0] == "deg":
        return ("mul", (node[1], ("div", ("const", "pi"), ("num", Fraction(180)))))
    if node[0] == "pow" and node[2] == ("degmark",):
        return ("mul", (node[1], ("div", ("const", "pi"), ("num", Fraction(180)))))
    if node[0] in ("mul", "add"):
        return (node[0], tuple(_degrees_to_radians(a) for a in node[1]))
    if node[0] == "neg":
        return ("neg", _degrees_to_radians(node[1]))
    return node


def _strip_degrees(node: Node) -> Node:
    kind = node[0]
    if kind == "deg":
        return _strip_degrees(node[1])
    if kind == "pow" and node[2] == ("degmark",):
        return _strip_degrees(node[1])
    if kind in ("add", "mul", "tuple", "set", "list", "union"):
        return (kind, tuple(_strip_degrees(a) for a in node[1]))
    if kind in ("neg", "fact"):
        return (kind, _strip_degrees(node[1]))
    if kind in ("div", "pow", "eq"):
        return (kind, _strip_degrees(node[1]), _strip_degrees(node[2]))
    if kind == "interval":
        return (kind, node[1], _strip_degrees(node[2]), _strip_degrees(node[3]), node[4])
    if kind == "claim":
        return (kind, _strip_degrees(node[1]), tuple((op, _strip_degrees(a), _strip_degrees(b)) for op, a, b in node[2]))
    return node


def _is_variable_lhs(node: Node) -> bool:
    if node[0] == "sym":
        return True
    if node[0] == "tuple":
        return all(a[0] == "sym" for a in node[1])
    # f(x) = ..., reads as the product f*x
    return node[0] == "mul" and len(node[1]) == 2 and all(a[0] == "sym" for a in node[1])


def is_name(node: Node) -> bool:
    """A name for a quantity: variables joined by products, quotients, ratios and absolute values
    (``|AB|``, ``\\frac{NO}{BO}``, ``S_{MBCN}:S``), with no number and no sum in it."""
    kind = node[0]
    if kind == "sym":
        return True
    if kind in ("mul", "ratio"):
        return all(is_name(a) for a in node[1])
    if kind == "div":
        return is_name(node[1]) and is_name(node[2])
    return kind == "fn" and node[1] == "abs" and is_name(node[2][0])


def _label_value(eq: Node) -> Node | None:
    """What an equation ``lhs = rhs`` answers, or ``None`` when it is an equation to keep whole.

    - ``x = 3`` (a variable, a tuple of variables, ``f(x)``) answers its right-hand side; when that
      side has variables (``y = 2x + 3``) the label is kept as ``("label", y, rhs)``, which matches
      ``2x + 3`` and also the equation ``2x - y + 3 = 0``;
    - a name (:func:`is_name`) equal to a constant (``|AB| = 1``, ``\\frac{NO}{BO} = \\frac{1}{\\sqrt6}``)
      answers the constant, as ``("label", name, constant)``: against another named value the two names
      must be the same quantity (``|CD| = 1`` does not answer ``|AB| = 1``);
    - a worked computation, constants on both sides (``16 - 3 - 4 = 9``), answers its result;
    - anything else (``7 = 11a + c``, ``x + y = 5``) is an equation: restating one side is not it.
    """
    lhs, rhs = eq[1], eq[2]
    if lhs[0] == "sym" and _has_symbols(rhs):
        return ("label", lhs, rhs)
    if _is_variable_lhs(lhs):
        return rhs
    if not _has_symbols(rhs) and is_name(lhs):
        return ("label", lhs, rhs)  # the name is kept: against another named value the names must agree
    if not _has_symbols(rhs) and not _has_symbols(lhs):
        return rhs
    return None


def _finish(item: Node) -> Node:
    if item[0] == "claim":
        return ("claim", _finish(item[1]), item[2])
    if item[0] == "eq":
        item = _label_value(item) or item
    if item[0] == "pm":
        return ("set", (item[1], item[2]))
    if item[0] == "set" and any(x[0] == "pm" for x in item[1]):  # \{1 \pm \sqrt5, -2\}: three elements
        return ("set", tuple(y for x in item[1] for y in ((x[1], x[2]) if x[0] == "pm" else (x,))))
    return item


def _has_symbols(node) -> bool:
    """Whether a parse tree (or a tuple of them) contains a variable."""
    if not isinstance(node, tuple):
        return False
    return (bool(node) and node[0] == "sym") or any(_has_symbols(x) for x in node)


# not words: environments, commands, function names, and the letters of a subscript (``S_{MBCN}`` is a name)
_KNOWN_WORDS = re.compile(r"\\(?:begin|end)\{\w+\}|\\[a-zA-Z]+|_\{[^{}]*\}|" + "|".join(WORDS))
_TEXTY = re.compile(r"[a-zA-Z]{3,}")
_JOINER_RE = re.compile(r"\s*(?<![A-Za-z\\])(?:and|or)(?![A-Za-z])\s*")
_LONE_TEXT_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mbox|mathrm)\s*\{([^{}]*)\}")


def canonical_text(s: str) -> str:
    """Lower-case text without spaces, braces, markdown stars, enclosing parentheses or a final period
    (other punctuation is kept: ``3:1`` never equals ``31``)."""
    s = re.sub(r"\\(?:text\w*|mathrm|mathbf|mbox)", "", s)
    s = re.sub(r"[\s{}*`]", "", s.lower()).rstrip(".")
    while len(s) >= 2 and s[0] == "(" and s[-1] == ")" and "(" not in s[1:-1] and ")" not in s[1:-1]:
        s = s[1:-1]
    return s


@lru_cache(maxsize=65536)
def parse_answer(answer: str) -> Node:
    """Parse an (extracted) answer into a tree; raises :class:`ParseError` when it is not math.

    Text answers (words, e.g. ``"Monday"``, ``"\\text{(C)}"``) give ``("text", canonical)``.
    """
    if len(answer) > MAX_CHARS:
        raise LimitExceeded(f"answer longer than {MAX_CHARS} characters")
    lone_text = _LONE_TEXT_RE.fullmatch(answer.strip())
    if lone_text and re.search(r"[a-zA-Z]{2,}", lone_text.group(1)):  # \text{no} is a word, not n*o
        return ("text", canonical_text(lone_text.group(1)))
    s = normalize_answer(answer)
    if not s:
        raise ParseError("empty answer")
    s = _JOINER_RE.sub(", ", s)  # "x = 2 or x = 3", "(11,7)or(7,11)": a list of answers
    if _TEXTY.search(_KNOWN_WORDS.sub(" ", s)):
        return ("text", canonical_text(s))
    toks = tokenize(s)
    if not toks:
        raise ParseError("empty answer")
    p = _Parser(toks)
    try:
        groups = [p.parse_seq(semicolons=False)]
        while _is(p.peek(), "op", ";"):
            p.take()
            if p.peek() is not None:
                groups.append(p.parse_seq(semicolons=False))
    except RecursionError as e:  # pragma: no cover - MAX_DEPTH keeps well below the limit
        raise LimitExceeded("expression nested too deeply") from e
    if p.pos != len(p.toks):
        raise ParseError(f"unexpected {p.toks[p.pos][1]!r}")
    if len(groups) > 1 and any(len(g) > 1 for g in groups):
        # "p=5,q=2; p=7,q=2": a ";" between solutions of several parts separates whole solutions
        return ("list", tuple(_finish_items(g) for g in groups))
    return _finish_items([it for g in groups for it in g])


def _finish_items(items: list[Node]) -> Node:
    """One answer from the comma-separated items of a solution."""
    items = [_strip_degrees(it) for it in items]
    if (len(items) > 1 and all(it[0] == "eq" and _is_variable_lhs(it[1]) for it in items)
            and len({it[1] for it in items}) == len(items)):
        # "a = 1, b = 2": the names matter ("x = 2 or x = 3" lists solutions; a lone "x = 3" is 3)
        return ("list", tuple(("named", it[1], _finish(it[2])) for it in items))
    same_name = len(items) > 1 and all(it[0] == "eq" and _is_variable_lhs(it[1]) for it in items)
    items = [_finish(it) for it in items]
    if len(items) == 1:
        return items[0]
    if same_name:  # "x = 2 or x = 3": values of one name (never the named values a = 1, b = 2)
        return ("list", tuple(items), "same name")
    return ("list", tuple(items))
