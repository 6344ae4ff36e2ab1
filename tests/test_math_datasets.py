"""Math dataset loaders: golds, formats (JSONL / JSON / parquet), lookup order, missing-data errors."""

from __future__ import annotations

import json

import pytest

from llm_marl_envs.tasks import TASK_SOURCES, DatasetNotFoundError, load_tasks
from llm_marl_envs.tasks.math_datasets import gsm8k_gold, math_gold, read_rows

GSM_ROWS = [
    {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "A big sum?", "answer": "It is 1,234 + 1 = 1,235\n#### 1,235"},
]
MATH_ROWS = [
    {"problem": "Half?", "level": "Level 2", "type": "Algebra", "solution": r"It is $\boxed{\frac{1}{2}}$."},
    {"problem": "Nested?", "level": "Level 5", "type": "Geometry", "solution": r"First \boxed{1}, then $\boxed{\sqrt{\frac{1}{2}}}$"},
    {"problem": "Unknown level", "level": "Level ?", "type": "Geometry", "solution": r"$\boxed{3}$"},
]


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_gold_extraction():
    assert gsm8k_gold("work\n#### 1,235") == "1235"
    assert gsm8k_gold("#### $18") == "18"
    with pytest.raises(ValueError):
        gsm8k_gold("no final line")
    assert math_gold({"solution": r"so \boxed{\frac{a}{\{b\}}} done"}) == r"\frac{a}{\{b\}}"
    assert math_gold({"answer": " 5 ", "solution": r"\boxed{6}"}) == "5"
    with pytest.raises(ValueError):
        math_gold({"solution": "no box"})


def test_gsm8k_from_an_explicit_path(tmp_path):
    f = _write_jsonl(tmp_path / "test.jsonl", GSM_ROWS)
    src = load_tasks("gsm8k", path=f)
    assert [t.answer for t in src] == ["7", "1235"]
    assert src[0].kind == "math" and src[0].prompt == GSM_ROWS[0]["question"] and src[0].id == "gsm8k-test-0"
    # a folder holding <split>.jsonl works too
    assert len(load_tasks("gsm8k", path=tmp_path)) == 2


def test_math_from_an_env_var_json_array(tmp_path, monkeypatch):
    f = tmp_path / "train.json"
    f.write_text(json.dumps(MATH_ROWS), encoding="utf-8")
    monkeypatch.setenv("LLM_MARL_MATH", str(f))
    src = load_tasks("math")
    assert [t.answer for t in src] == [r"\frac{1}{2}", r"\sqrt{\frac{1}{2}}", "3"]
    assert src[0].metadata["level"] == 2 and src[0].metadata["subject"] == "Algebra"
    assert src[2].metadata["level"] is None
    assert [t.answer for t in load_tasks("math", difficulty=5)] == [r"\sqrt{\frac{1}{2}}"]
    assert len(load_tasks("math", difficulty=[2, 5])) == 2


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    f = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(GSM_ROWS), f)
    assert [t.answer for t in load_tasks("gsm8k", path=f)] == ["7", "1235"]
    assert read_rows(f) == GSM_ROWS


def test_missing_dataset_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_MARL_DATA", str(tmp_path))
    monkeypatch.setenv("LLM_MARL_MATH500", str(tmp_path / "nowhere.jsonl"))
    import llm_marl_envs.tasks.datapaths as dp

    monkeypatch.setattr(dp, "data_roots", lambda: [tmp_path])
    with pytest.raises(DatasetNotFoundError) as e:
        load_tasks("math500")
    msg = str(e.value)
    assert "never downloads" in msg and "LLM_MARL_MATH500" in msg and "math500.jsonl" in msg


def test_n_and_seeded_shuffle(tmp_path):
    rows = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(50)]
    f = _write_jsonl(tmp_path / "train.jsonl", rows)
    first = load_tasks("gsm8k", path=f, split="train", n=5)
    assert [t.answer for t in first] == ["0", "1", "2", "3", "4"]
    a = load_tasks("gsm8k", path=f, split="train", shuffle=True, seed=1, n=10)
    b = load_tasks("gsm8k", path=f, split="train", shuffle=True, seed=1, n=10)
    c = load_tasks("gsm8k", path=f, split="train", shuffle=True, seed=2, n=10)
    assert [t.id for t in a] == [t.id for t in b] != [t.id for t in c]


def _real(name, **kw):
    try:
        return load_tasks(name, **kw)
    except DatasetNotFoundError:
        pytest.skip(f"{name} data is not in ../shared/data")


def test_real_datasets_when_present():
    assert {"gsm8k", "math", "math500"} <= set(TASK_SOURCES.names())
    gsm = _real("gsm8k")
    assert len(gsm) == 1319 and gsm[0].answer == "18"
    assert len(_real("gsm8k", split="train")) == 7473
    m500 = _real("math500")
    assert len(m500) == 500 and m500[0].id == "test/precalculus/807.json"
    assert m500[0].answer == r"\left( 3, \frac{\pi}{2} \right)" and m500[0].metadata["level"] == 2
    with pytest.warns(UserWarning, match="skipped 2 row"):
        train = _real("math")
    assert len(train) == 7498 and all(t.metadata["subject"] for t in train[:50])  # 7500 rows, 2 with \boxed{}
    assert all(t.answer for t in train)
    # the gold of a MATH row is the last \boxed{} of its solution (brace matching)
    for t in train[:200]:
        assert t.answer == math_gold({"solution": t.metadata["solution"]})


def test_reasoning_gym_adapter_counts_only_a_full_score(monkeypatch):
    pytest.importorskip("reasoning_gym")
    from llm_marl_envs.verifiers import get_verifier
    from llm_marl_envs.verifiers.reasoning_gym import reasoning_gym_dataset

    src = load_tasks("reasoning_gym", dataset="basic_arithmetic", n=4, seed=3)
    assert len(src) == 4 and src[0].kind == "math" and src[0].id == "rg-basic_arithmetic-3-0"
    assert src[0].metadata["verifier"] == "reasoning_gym"  # scored by its own registered verifier
    assert [t.prompt for t in src] == [t.prompt for t in load_tasks("reasoning_gym", dataset="basic_arithmetic", n=4, seed=3)]
    verifier = get_verifier("math")
    good = [f"<answer>{t.answer}</answer>" for t in src]
    assert all(v.correct and v.score == 1.0 for v in verifier.verify_many(good, list(src)))
    assert not verifier.verify("<answer>123456789</answer>", src[0]).correct
    assert verifier.verify("no answer", src[0]).status in ("no_answer", "ok")
    ds = reasoning_gym_dataset("basic_arithmetic", seed=3, size=4)
    monkeypatch.setattr(ds, "score_answer", lambda answer, entry: 0.99)  # partial credit is not correct
    v = verifier.verify(good[0], src[0])
    assert (v.correct, v.score) == (False, 0.0) and "0.99" in v.detail


def test_an_explicit_path_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    """Regression: a missing ``path=`` (or ``$LLM_MARL_GSM8K``) silently fell back to the shared data."""
    with pytest.raises(DatasetNotFoundError, match="nowhere.jsonl"):
        load_tasks("gsm8k", path=tmp_path / "nowhere.jsonl")
    monkeypatch.setenv("LLM_MARL_GSM8K", str(tmp_path / "nowhere.jsonl"))
    with pytest.raises(DatasetNotFoundError, match="LLM_MARL_GSM8K"):
        load_tasks("gsm8k")


def test_math_rows_without_a_gold_are_skipped_with_a_warning(tmp_path):
    """Regression: two MATH-train rows have ``\\boxed{}`` upstream and loaded with gold "" (never rewardable)."""
    rows = [{"problem": "p1", "solution": r"so \boxed{3}", "level": "Level 1"},
            {"problem": "p2", "solution": r"so \boxed{}", "level": "Level 1"}]
    f = _write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.warns(UserWarning, match="skipped 1 row"):
        tasks = load_tasks("math", path=f)
    assert [t.answer for t in tasks] == ["3"]
