"""``llm-marl view``: one self-contained HTML page (or a terminal table) of episodes, rollout trees,
a training run or benchmark results.

    from llm_marl_envs.view import detect, build_html
    html = build_html(detect("episodes.jsonl"))

No server and no network: scripts, styles and plots are inline, under a strict Content-Security-Policy.
Model text is untrusted: escaped on the server side, and set with ``textContent`` in the page.
"""

from __future__ import annotations

from typing import Any

from .detect import EXPECTED, Source, ViewInputError, detect

__all__ = ["EXPECTED", "Source", "ViewInputError", "build_html", "detect", "write_view"]


def build_html(source: Source) -> str:
    """The HTML page for a detected ``source`` (see :func:`detect`)."""
    from .views import build_html as _build

    return _build(source)


def write_view(path: Any, out: Any) -> Source:
    """Detect ``path``, write its page to ``out``; return the detected source."""
    from pathlib import Path

    source = detect(path)
    Path(out).write_text(build_html(source), encoding="utf-8")
    return source
