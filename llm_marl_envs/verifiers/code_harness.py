"""Turning a task's tests into the sandbox's test driver (trusted dataset text only; parsed, never run here).

Tests come in two shapes:

* a sequence of test statements (MBPP's ``assert`` lines): each one is a test;
* one test program (HumanEval's ``test`` field): its module-level statements other than the
  ``check`` function are setup, and every top-level statement of ``check`` that contains an
  ``assert`` is a test, run as ``check(<entry_point>)``. A program without ``check`` counts each
  top-level statement with an ``assert`` as a test.

Each test is wrapped so that it reports pass/fail on its own, and every ``assert`` is rewritten:
every single ``a == b``, ``a != b``, ``a in b``, ``a not in b`` in it -> ``__heq(a, b, ...)`` and
``assert x`` -> ``assert __htruth(x)``, whose implementations (``sandbox/_child.py``) refuse objects
whose comparisons or truth are written in Python (the AlwaysEqual reward hack). The driver is one function ``__harness_driver__(__hp, __hf, __heq,
__htruth)``: the recorders arrive as arguments, after the solution ran, never as globals.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DRIVER = "__harness_driver__"
_ARGS = ("__hp", "__hf", "__heq", "__htruth")


class BadTestsError(ValueError):
    """The task's tests themselves do not parse (a dataset problem, not the model's)."""


@dataclass(frozen=True)
class CheckPlan:
    """What the sandbox runs after the solution: ``setup`` at module level, then the driver."""

    setup: str
    driver: str
    n_tests: int
    names: tuple[str, ...]


_CHECKED_OPS = {ast.Eq: (False, False), ast.NotEq: (True, False), ast.In: (False, True), ast.NotIn: (True, True)}


class _CheckComparisons(ast.NodeTransformer):
    """Every single ``==``, ``!=``, ``in``, ``not in`` inside an assert (also within ``and``/``or``,
    ``not`` and ``all(...)`` generators) -> ``__heq(a, b, negate, contains)``. Chains are left as written."""

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in _CHECKED_OPS:
            return node
        negate, contains = _CHECKED_OPS[type(node.ops[0])]
        call = ast.Call(ast.Name("__heq", ast.Load()),
                        [node.left, node.comparators[0], ast.Constant(negate), ast.Constant(contains)], [])
        return ast.copy_location(call, node)


class _RewriteAsserts(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        test = _CheckComparisons().visit(node.test)
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "__heq":
            call = test  # a bool from the checked comparison itself
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            call = ast.Call(ast.Name("__htruth", ast.Load()), [test.operand, ast.Constant(True)], [])
        else:
            call = ast.Call(ast.Name("__htruth", ast.Load()), [test, ast.Constant(False)], [])
        return ast.copy_location(ast.Assert(call, node.msg), node)

    # nested functions and classes inside tests are left as written (rare; still recorded per test)


def _wrap(index: int, body: list[ast.stmt]) -> ast.Try:
    """try: <body> / except BaseException as __e: __hf(i, __e) / else: __hp(i)"""
    body = [_RewriteAsserts().visit(stmt) for stmt in body]
    handler = ast.ExceptHandler(
        type=ast.Name("BaseException", ast.Load()), name="__e",
        body=[ast.Expr(ast.Call(ast.Name("__hf", ast.Load()), [ast.Constant(index), ast.Name("__e", ast.Load())], []))],
    )
    orelse = [ast.Expr(ast.Call(ast.Name("__hp", ast.Load()), [ast.Constant(index)], []))]
    return ast.Try(body=body, handlers=[handler], orelse=orelse, finalbody=[])


def _has_assert(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(stmt))


def _driver_def(body: list[ast.stmt]) -> ast.FunctionDef:
    args = ast.arguments(posonlyargs=[], args=[ast.arg(a) for a in _ARGS], kwonlyargs=[], kw_defaults=[], defaults=[])
    return ast.FunctionDef(name=DRIVER, args=args, body=body or [ast.Pass()], decorator_list=[], returns=None)


def _parse(source: str, what: str) -> list[ast.stmt]:
    try:
        return ast.parse(source.replace("\r\n", "\n")).body
    except SyntaxError as e:
        raise BadTestsError(f"{what} does not parse: {e}") from e


def _segment(source: str, stmt: ast.stmt) -> str:
    return (ast.get_source_segment(source, stmt) or ast.unparse(stmt)).strip().splitlines()[0][:120]


def plan_from_asserts(tests: Sequence[str], setup: str = "") -> CheckPlan:
    """One test per statement string (MBPP style)."""
    body: list[ast.stmt] = []
    names = []
    for i, test in enumerate(tests):
        stmts = _parse(test, f"test #{i}")
        body.append(_wrap(i, stmts))
        names.append(test.strip().splitlines()[0][:120] if test.strip() else f"test #{i}")
    module = ast.Module([_driver_def(body)], type_ignores=[])
    return CheckPlan(setup=setup, driver=ast.unparse(ast.fix_missing_locations(module)), n_tests=len(tests),
                    names=tuple(names))


def plan_from_program(program: str, entry_point: str | None, setup: str = "") -> CheckPlan:
    """One test per top-level asserting statement of ``check`` (HumanEval style) or of the program."""
    source = program.replace("\r\n", "\n")
    stmts = _parse(source, "the test program")
    check = next((s for s in stmts if isinstance(s, ast.FunctionDef) and s.name == "check"), None)
    names: list[str] = []
    if check is not None and entry_point:
        others = [s for s in stmts if s is not check and not _is_check_call(s)]
        new_body: list[ast.stmt] = []
        for stmt in check.body:
            if _has_assert(stmt):
                new_body.append(_wrap(len(names), [stmt]))
                names.append(_segment(source, stmt))
            else:
                new_body.append(stmt)
        inner = ast.FunctionDef(name="check", args=check.args, body=new_body, decorator_list=[], returns=None)
        call = ast.Expr(ast.Call(ast.Name("check", ast.Load()), [ast.Name(entry_point, ast.Load())], []))
        driver_body: list[ast.stmt] = [inner, call]
        setup_src = "\n".join(ast.unparse(s) for s in others)
    else:
        driver_body = []
        for stmt in stmts:
            if _has_assert(stmt):
                driver_body.append(_wrap(len(names), [stmt]))
                names.append(_segment(source, stmt))
            else:
                driver_body.append(stmt)
        setup_src = ""
    if not names:
        raise BadTestsError("the test program contains no assert")
    module = ast.Module([_driver_def(driver_body)], type_ignores=[])
    full_setup = "\n".join(s for s in (setup, setup_src) if s.strip())
    return CheckPlan(setup=full_setup, driver=ast.unparse(ast.fix_missing_locations(module)), n_tests=len(names),
                    names=tuple(names))


def _is_check_call(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "check")


def build_plan(tests: Sequence[str] | str, entry_point: str | None = None, setup: str = "") -> CheckPlan:
    """The test plan for ``tests`` (a sequence of statements or one program); cached, since RL
    verifies the same task many times."""
    if isinstance(tests, (str, tuple)):
        return _cached_plan(tests, entry_point, setup)
    return _build_plan(tests, entry_point, setup)


@lru_cache(maxsize=4096)
def _cached_plan(tests: tuple[str, ...] | str, entry_point: str | None, setup: str) -> CheckPlan:
    return _build_plan(tests, entry_point, setup)


def _build_plan(tests: Sequence[str] | str, entry_point: str | None, setup: str) -> CheckPlan:
    if isinstance(tests, str):
        return plan_from_program(tests, entry_point, setup)
    tests = [t for t in tests if isinstance(t, str) and t.strip()]
    if not tests:
        raise BadTestsError("no tests")
    return plan_from_asserts(tests, setup)
