"""The README's learner snippet runs as written (in a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_learner_snippet_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text[text.index("## Learners") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md#learners", "exec"), {"__name__": "readme"})
    assert "64 evaluator calls" in capsys.readouterr().out  # 2 iterations x 4 tasks x B=8
    assert (tmp_path / "runs" / "readme-c3" / "metrics.jsonl").exists()
