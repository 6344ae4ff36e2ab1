"""The sympy worker process of the math verifier (run as ``python -I worker.py``; stdlib + sympy only).

Protocol, one JSON object per line. The parent first sends ``{"sys_path": [...], "memory_mb": N}``;
the worker imports sympy, warms up, and answers ``{"ready": true}``. Then each request
``{"id": k, "pairs": [[a, b], ...]}`` (parse trees as nested lists, numbers as ``["num", p, q]``) gets
``{"id": k, "results": ["equal" | "unequal" | "unknown" | "error", ...]}``.

Variables are positive reals (the parent's numeric probe samples them in [0.5, 2.5]), so
``\\sqrt{1/n}`` equals ``1/\\sqrt{n}``. Sympy objects are built node by node from the tree (never from text: no ``eval``, no
``parse_expr``), and only short strings cross back. The parent kills this process at its deadline;
the worker also exits when its parent dies or stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _builder(sympy):
    consts = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo}
    funcs = {
        "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec, "csc": sympy.csc,
        "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh,
        "tanh": sympy.tanh, "sqrt": sympy.sqrt, "abs": sympy.Abs, "floor": sympy.floor, "ceil": sympy.ceiling,
        "exp": sympy.exp, "binom": sympy.binomial,
    }

    def build(n):
        k = n[0]
        if k == "num":
            return sympy.Rational(int(n[1]), int(n[2]))
        if k == "sym":
            return sympy.Symbol(str(n[1]), positive=True)
        if k == "const":
            return consts[n[1]]
        if k == "add":
            return sympy.Add(*[build(a) for a in n[1]])
        if k == "mul":
            return sympy.Mul(*[build(a) for a in n[1]])
        if k == "div":
            return build(n[1]) / build(n[2])
        if k == "neg":
            return -build(n[1])
        if k == "pow":
            return sympy.Pow(build(n[1]), build(n[2]))
        if k == "fact":
            return sympy.factorial(build(n[1]))
        if k in ("sum", "prod"):  # the index is an integer, bound in the body
            index = sympy.Symbol(str(n[1]), integer=True)
            body = build(n[4]).xreplace({sympy.Symbol(str(n[1]), positive=True): index})
            op = sympy.summation if k == "sum" else sympy.product
            return op(body, (index, build(n[2]), build(n[3])))
        if k == "fn":
            args = [build(a) for a in n[2]]
            if n[1] == "log":
                return sympy.log(*args)
            return funcs[n[1]](*args)
        raise ValueError(f"unsupported node {k}")

    return build


def decide(sympy, build, a, b) -> str:
    """``"equal"`` when sympy proves ``a - b == 0``, ``"unequal"`` when it proves otherwise."""
    try:
        d = build(a) - build(b)
        if d == 0:
            return "equal"
        s = sympy.simplify(d)
        if s == 0:
            return "equal"
        if s.is_number:
            if s.is_Rational:
                return "unequal"  # exact and nonzero
            z = sympy.N(s, 100)
            scale = max(abs(complex(sympy.N(build(a), 30))), abs(complex(sympy.N(build(b), 30))))
            return "equal" if z == 0 or abs(complex(z)) <= 1e-60 * scale else "unequal"
        eq = s.equals(0)
        return "equal" if eq is True else "unequal" if eq is False else "unknown"
    except Exception:
        return "error"


def main() -> None:
    init = json.loads(sys.stdin.readline() or "{}")
    for p in reversed(init.get("sys_path", [])):
        here = os.path.dirname(os.path.abspath(__file__))  # never this package's own folder
        if p not in sys.path and os.path.abspath(p) != here:
            sys.path.insert(0, p)
    memory_mb = int(init.get("memory_mb", 0))
    if memory_mb > 0:
        try:
            import resource

            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    import sympy

    build = _builder(sympy)
    decide(sympy, build, ["pow", ["add", [["sym", "x"], ["num", 1, 1]]], ["num", 2, 1]],
           ["add", [["pow", ["sym", "x"], ["num", 2, 1]], ["mul", [["num", 2, 1], ["sym", "x"]]], ["num", 1, 1]]])
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            results = [decide(sympy, build, a, b) for a, b in req["pairs"]]
            out.write(json.dumps({"id": req.get("id"), "results": results}) + "\n")
        except Exception as e:  # a malformed request: answer, never die silently
            out.write(json.dumps({"id": None, "error": type(e).__name__}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
