"""Turning a task's tests into a check plan for the trusted checker (dataset text only; parsed, never run here).

Tests come in two shapes:

* a sequence of test statements (MBPP's ``assert`` lines): each one is a test;
* one test program (HumanEval's ``test`` field): its module-level statements other than the
  ``check`` function are setup, and every top-level statement of ``check`` that contains an
  ``assert`` and uses the program (the check's parameter, the entry point, a name resolved to the
  program, or a local bound from them) is a test, run as ``check(<entry_point>)``; other statements
  (``assert True``) run as they are. A program without ``check`` counts its top-level statements
  the same way.

The plan is a module for the checker process (``sandbox/_checker.py``), which never runs the program:
its setup at module level, then ``__harness_driver__(__hp, __hf)`` with each test wrapped to report
pass/fail on its own. Every name the tests use but do not define is resolved there once per run:

* the entry point, and any other name that is not a builtin -> a remote proxy: calling it calls the
  program's function in the program's process, arguments and results crossing as plain data;
* a builtin -> the checker's own builtin (a program that rebinds ``set`` or ``abs`` reaches nothing);
* a standard-library module used only as ``name.attr`` (``math.isclose``, ``sys.maxsize``) -> the
  checker's own import (a program that defines ``class math`` reaches nothing).

``program_setup`` (MBPP's ``test_setup_code``, which builds inputs from the program's classes) runs in
the program's process after the program; the names it binds are remote like the program's.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DRIVER = "__harness_driver__"
_ARGS = ("__hp", "__hf")
CANDIDATE = "__harness_candidate__"  # the program's entry point, bound before the tests' module code runs
_BUILTINS = frozenset(dir(builtins))
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))


class BadTestsError(ValueError):
    """The task's tests themselves do not parse (a dataset problem, not the model's)."""


@dataclass(frozen=True)
class CheckPlan:
    """What the checker runs (``tests``: a module) and what it resolves where.

    ``program_setup`` runs in the program's process after the program; ``remote``: names that are
    calls into the program; ``modules``: stdlib modules the checker imports itself."""

    tests: str
    program_setup: str
    remote: tuple[str, ...]
    modules: tuple[str, ...]
    n_tests: int
    names: tuple[str, ...]


def _wrap(index: int, body: list[ast.stmt]) -> ast.Try:
    """try: <body> / except BaseException as __e: __hf(i, __e) / else: __hp(i)"""
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
    except (ValueError, RecursionError, MemoryError) as e:
        raise BadTestsError(f"{what} does not parse: {type(e).__name__}") from e


def _segment(source: str, stmt: ast.stmt) -> str:
    return (ast.get_source_segment(source, stmt) or ast.unparse(stmt)).strip().splitlines()[0][:120]


class _Names(ast.NodeVisitor):
    """Loads, attribute-only loads, and bindings at module level / inside functions."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.non_attr: set[str] = set()  # loaded somewhere other than as ``name.attr``
        self.bound: set[str] = set()
        self._attr_bases: set[int] = set()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name):
            self._attr_bases.add(id(node.value))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loads.add(node.id)
            if id(node) not in self._attr_bases:
                self.non_attr.add(node.id)
        else:
            self.bound.add(node.id)

    def _def(self, node) -> None:
        self.bound.add(node.name)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _def

    def visit_arg(self, node: ast.arg) -> None:
        self.bound.add(node.arg)

    def visit_alias(self, node: ast.alias) -> None:
        if node.name != "*":
            self.bound.add((node.asname or node.name).split(".")[0])

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        pass


def _resolve(module: ast.Module, entry_point: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = _Names()
    names.visit(module)
    free = names.loads - names.bound - {DRIVER, CANDIDATE, *_ARGS}
    remote, modules = [], []
    for name in sorted(free):
        if name == entry_point:
            remote.append(name)
        elif name in _BUILTINS:
            continue
        elif name in _STDLIB and name not in names.non_attr:
            modules.append(name)
        else:
            remote.append(name)
    if entry_point and entry_point not in remote and entry_point.isidentifier():
        remote.append(entry_point)  # check(<entry_point>) is added by the plan, or a test names it
    return tuple(remote), tuple(modules)


def _plan(module_body: list[ast.stmt], driver_body: list[ast.stmt], entry_point: str | None, program_setup: str,
          names: list[str], prelude: str, bind_candidate: bool = False) -> CheckPlan:
    head = _parse(prelude, "the test imports") if prelude.strip() else []
    if bind_candidate:  # first of all: the module may define a name like the entry point (the task's reference)
        head = [ast.Assign([ast.Name(CANDIDATE, ast.Store())], ast.Name(entry_point, ast.Load())), *head]
    module = ast.fix_missing_locations(ast.Module([*head, *module_body, _driver_def(driver_body)], type_ignores=[]))
    remote, modules = _resolve(module, entry_point)
    return CheckPlan(tests=ast.unparse(module), program_setup=program_setup, remote=remote, modules=modules,
                     n_tests=len(names), names=tuple(names))


def plan_from_asserts(tests: Sequence[str], entry_point: str | None = None, setup: str = "",
                      prelude: str = "") -> CheckPlan:
    """One test per statement string (MBPP style)."""
    body: list[ast.stmt] = []
    names = []
    for i, test in enumerate(tests):
        body.append(_wrap(i, _parse(test, f"test #{i}")))
        names.append(test.strip().splitlines()[0][:120] if test.strip() else f"test #{i}")
    return _plan([], body, entry_point, setup, names, prelude)


def plan_from_program(program: str, entry_point: str | None, setup: str = "", prelude: str = "") -> CheckPlan:
    """One test per top-level asserting statement of ``check`` (HumanEval style) or of the program."""
    source = program.replace("\r\n", "\n")
    stmts = _parse(source, "the test program")
    check = next((s for s in stmts if isinstance(s, ast.FunctionDef) and s.name == "check"), None)
    names: list[str] = []
    if check is not None and entry_point:
        others = [s for s in stmts if s is not check and not _is_check_call(s)]
        params = {a.arg for a in (*check.args.posonlyargs, *check.args.args, *check.args.kwonlyargs)}
        tainted = params | {entry_point} | set(_free_remote(stmts, entry_point))
        new_body = _wrap_tests(source, check.body, tainted, names)
        inner = ast.FunctionDef(name="check", args=check.args, body=new_body, decorator_list=[], returns=None)
        call = ast.Expr(ast.Call(ast.Name("check", ast.Load()), [ast.Name(CANDIDATE, ast.Load())], []))
        module_body, driver_body = others, [inner, call]
    else:
        tainted = ({entry_point} if entry_point else set()) | set(_free_remote(stmts, entry_point))
        driver_body = _wrap_tests(source, stmts, tainted, names)
        module_body = []
    if not names:
        raise BadTestsError("the test program contains no assert that uses the program")
    return _plan(module_body, driver_body, entry_point, setup, names, prelude, bind_candidate=check is not None
                 and bool(entry_point))


def _free_remote(stmts: list[ast.stmt], entry_point: str | None) -> tuple[str, ...]:
    """The names of ``stmts`` that resolve to the program (see ``_resolve``)."""
    return _resolve(ast.Module(list(stmts), type_ignores=[]), entry_point)[0]


def _wrap_tests(source: str, stmts: list[ast.stmt], tainted: set[str], names: list[str]) -> list[ast.stmt]:
    """Each statement with an ``assert`` that uses the program (a name in ``tainted``: the check's
    parameter, the entry point, a remote name, or a local an earlier such statement bound) becomes a
    test; the others run as they are (``assert True, "..."`` is not a test: a program that returns
    nothing scored on it)."""
    body: list[ast.stmt] = []
    for stmt in stmts:
        walker = _Names()
        walker.visit(stmt)
        uses = bool(walker.loads & tainted)
        if uses:
            tainted |= walker.bound
        if uses and _has_assert(stmt):
            body.append(_wrap(len(names), [stmt]))
            names.append(_segment(source, stmt))
        else:
            body.append(stmt)
    return body


def _is_check_call(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "check")


def build_plan(tests: Sequence[str] | str, entry_point: str | None = None, setup: str = "",
               prelude: str = "") -> CheckPlan:
    """The check plan for ``tests`` (a sequence of statements or one program); cached, since RL
    verifies the same task many times. ``setup`` runs in the program's process (MBPP's
    ``test_setup_code``); ``prelude`` at the top of the checker's module (sanitized MBPP's
    ``test_imports``)."""
    if isinstance(tests, (str, tuple)):
        return _cached_plan(tests, entry_point, setup, prelude)
    return _build_plan(tests, entry_point, setup, prelude)


@lru_cache(maxsize=4096)
def _cached_plan(tests: tuple[str, ...] | str, entry_point: str | None, setup: str, prelude: str) -> CheckPlan:
    return _build_plan(tests, entry_point, setup, prelude)


def _build_plan(tests: Sequence[str] | str, entry_point: str | None, setup: str, prelude: str) -> CheckPlan:
    if isinstance(tests, str):
        return plan_from_program(tests, entry_point, setup, prelude)
    tests = [t for t in tests if isinstance(t, str) and t.strip()]
    if not tests:
        raise BadTestsError("no tests")
    return plan_from_asserts(tests, entry_point, setup, prelude)
