"""Issue 14, data and task files: explicit settings never silently replaced, every error names
the file, the line and the field, and the documented example file loads and scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llm_marl_envs
from llm_marl_envs.cli import main
from llm_marl_envs.tasks import DatasetNotFoundError, load_tasks
from llm_marl_envs.tasks.base import TaskFileError, read_task_jsonl
from llm_marl_envs.tasks.datapaths import default_data_roots, find_data_file
from llm_marl_envs.types import Task

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tasks.jsonl"


# --- LLM_MARL_DATA ---------------------------------------------------------------------------

def test_an_empty_llm_marl_data_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    """Regression: ``LLM_MARL_DATA`` at a folder without the data silently read ../shared/data."""
    monkeypatch.setenv("LLM_MARL_DATA", str(tmp_path))
    monkeypatch.delenv("LLM_MARL_GSM8K", raising=False)
    with pytest.raises(DatasetNotFoundError) as e:
        load_tasks("gsm8k")
    msg = str(e.value)
    assert "\n" not in msg
    assert "$LLM_MARL_DATA" in msg and str(tmp_path) in msg and "gsm8k/test.jsonl" in msg


def test_llm_marl_data_is_used_when_it_holds_the_file(tmp_path, monkeypatch):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.jsonl").write_text("{}\n")
    monkeypatch.setenv("LLM_MARL_DATA", str(tmp_path))
    assert find_data_file("toy", ["a.jsonl"]) == tmp_path / "toy" / "a.jsonl"


def test_the_missing_dataset_message_lists_each_place_once_and_names_the_cli_flag(monkeypatch):
    """Regression: the list repeated the repository's shared/data when run from the checkout, and said
    ``path=`` where the command line flag is ``--path``."""
    monkeypatch.delenv("LLM_MARL_DATA", raising=False)
    monkeypatch.chdir(ROOT)  # cwd/shared/data == the checkout's shared/data
    with pytest.raises(DatasetNotFoundError) as e:
        find_data_file("no-such-dataset", ["x.jsonl"])
    msg = str(e.value)
    looked = msg.split("looked for: ", 1)[1].split(". Fix", 1)[0].split(", ")
    assert len(looked) == len(set(looked)) == len(default_data_roots())
    assert "--path" in msg and "\n" not in msg


def test_a_missing_explicit_path_names_the_cli_flag(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="--path"):
        find_data_file("gsm8k", ["test.jsonl"], path=tmp_path / "nowhere")


# --- the task JSONL format -------------------------------------------------------------------

def test_the_example_file_loads_and_its_gold_answers_score_one():
    from llm_marl_envs.verifiers import verify_code, verify_math

    tasks = load_tasks(str(EXAMPLE))
    assert {t.kind for t in tasks} == {"math", "code"}
    assert verify_math(r"\boxed{7}", tasks[0].answer).correct
    code = {"add": "def add(a, b):\n    return a + b\n", "rev": "def rev(s):\n    return s[::-1]\n"}
    for t in tasks:
        if t.kind == "code":
            assert verify_code(code[t.id], t.tests, entry_point=t.entry_point).score == 1.0


def test_the_example_file_plays_in_an_env():
    env = llm_marl_envs.make("llm-marl/MathDyad-v0", tasks=str(EXAMPLE))
    env.reset(seed=0, options={"task": 0})
    assert env.unwrapped.task_source[0].id == "apples"


def _write(tmp_path, lines: list[str], name: str = "t.jsonl") -> Path:
    f = tmp_path / name
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


GOOD = json.dumps({"id": "a", "kind": "math", "prompt": "1+1?", "answer": "2"})


@pytest.mark.parametrize("bad, expect", [
    ('{"id": "b" "kind": "math"}', ["not valid JSON", "Expecting ',' delimiter"]),
    ('{"kind": "math", "prompt": "p", "answer": "1"}', ["'id'"]),
    ('{"id": "b", "prompt": "p", "answer": "1"}', ["'kind'"]),
    ('{"id": "b", "kind": "math", "answer": "1"}', ["'prompt'"]),
    ('{"id": "b", "kind": "maths", "prompt": "p", "answer": "1"}', ["'kind'", "'maths'"]),
    ('{"id": "b", "kind": "math", "prompt": "p"}', ["'answer'"]),
    ('{"id": "b", "kind": "code", "prompt": "p"}', ["'tests'"]),
    ('{"id": "b", "kind": "code", "prompt": "p", "tests": [1, 2]}', ["'tests'"]),
    ('{"id": "b", "kind": "math", "prompt": "p", "answr": "1"}', ["'answr'", "metadata"]),
    ('{"id": "b", "kind": "math", "prompt": "p", "answer": "1", "metadata": [1]}', ["'metadata'"]),
    ('["not", "an", "object"]', ["JSON object"]),
    (GOOD, ["duplicate task id 'a'", "line 1"]),
])
def test_every_bad_line_names_the_file_the_line_and_the_field(tmp_path, bad, expect):
    """Regression: a missing field said ``'id'`` (a bare KeyError), a bad line ``Expecting ','
    delimiter: line 2 column 1`` without the file."""
    f = _write(tmp_path, [GOOD, "", bad])
    with pytest.raises(TaskFileError) as e:
        load_tasks(str(f))
    msg = str(e.value)
    assert msg.startswith(f"{f}:3: "), msg
    for part in expect:
        assert part in msg, msg


def test_an_empty_or_missing_task_file_is_named(tmp_path):
    with pytest.raises(TaskFileError, match="no tasks"):
        read_task_jsonl(_write(tmp_path, [""]))
    with pytest.raises(TaskFileError, match="does not exist"):
        load_tasks(str(tmp_path / "missing.jsonl"))


def test_a_json_array_file_reads_and_names_the_item(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps([json.loads(GOOD), {"id": "b", "kind": "math"}], indent=2))
    with pytest.raises(TaskFileError, match=r"t\.json:item 1: .*'prompt'"):
        load_tasks(str(f))
    f.write_text(json.dumps([json.loads(GOOD)], indent=2))
    assert [t.id for t in load_tasks(str(f))] == ["a"]


def test_from_dict_round_trips_and_reads_numbers():
    t = Task.from_dict({"id": 3, "kind": "math", "prompt": "p", "answer": 4})
    assert (t.id, t.answer) == ("3", "4")
    code = Task("c", "code", "p", tests=("assert f() == 1",), entry_point="f", metadata={"k": 1})
    assert Task.from_dict(code.to_dict()) == code


# --- llm-marl tasks ---------------------------------------------------------------------------

def test_tasks_cli_errors_are_one_unquoted_line_with_the_debug_hint(tmp_path, capsys, monkeypatch):
    """Regression: ``llm-marl tasks --show nope`` printed a quoted KeyError and no debug hint."""
    monkeypatch.delenv("LLM_MARL_DEBUG", raising=False)
    assert main(["tasks", "--show", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-marl tasks: unknown task source 'nope'") and "LLM_MARL_DEBUG=1" in err
    assert "\n" not in err
    f = _write(tmp_path, [GOOD, '{"id": "b" "kind": "math"}'])
    assert main(["tasks", "--show", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{f}:2: not valid JSON" in err and "LLM_MARL_DEBUG=1" in err


def test_tasks_show_prints_code_tests_and_entry_point(capsys):
    """Regression: ``tasks --show codegen`` omitted the tests."""
    assert main(["tasks", "--show", "codegen", "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert "entry point: " in out and "tests:\n    assert " in out


def test_tasks_cli_refuses_an_option_the_source_does_not_take(capsys, monkeypatch):
    """Regression: ``--split`` on ``arith`` was a TypeError traceback (once the CLI stopped hiding it)."""
    monkeypatch.delenv("LLM_MARL_DEBUG", raising=False)
    assert main(["tasks", "--show", "arith", "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert "task source 'arith' does not take --split (it takes: --seed, --difficulty)" in err and "Traceback" not in err
    assert main(["tasks", "--show", str(EXAMPLE), "--seed", "1"]) == 2
    assert "--seed do(es) not apply to a task file" in capsys.readouterr().err
    assert main(["tasks", "--show", "arith", "--seed", "2", "--difficulty", "2", "-n", "1"]) == 0


def test_tasks_listing_prints_markdown_code_spans(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and "arith" in out and "gsm8k" in out
