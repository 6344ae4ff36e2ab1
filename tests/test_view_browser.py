"""llm-marl view in a real browser (issue 18): headless Chromium loads the pages, their script runs
without console errors or CSP refusals, injected model text stays text, and the filter and lazy
rendering work with 10,000 episodes. Skipped (with the reason) where Chromium is not installed:
``apt-get install -y chromium`` (Debian) provides it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llm_marl_envs.rollout.data import RunStats, save_jsonl
from llm_marl_envs.view import build_html, detect
from llm_marl_envs.view.samples import INJECTION, scripted_rollouts, synthetic_episodes

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (Debian: apt-get install -y chromium)")


def chromium(url: str, tmp: Path, *extra: str, timeout: float = 90) -> tuple[str, list[str], float]:
    """Run headless Chromium on ``url``: (stdout, console lines, wall seconds)."""
    args = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", *extra, url]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses its sandbox as root
    t0 = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line or "Refused to" in line]
    return out.stdout, console, wall


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(dom: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element of the dumped DOM with its attributes."""
    p = _Elements()
    p.feed(dom)
    return p.tags


def body_attrs(dom: str) -> dict[str, str]:
    m = re.search(r"<body([^>]*)>", dom)
    assert m, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))


def loaded_ok(dom: str, console: list[str]) -> dict[str, str]:
    attrs = body_attrs(dom)
    assert attrs.get("data-ok") == "1", (attrs, console, re.findall(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S))
    assert "data-error" not in attrs and not console, console
    return attrs


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    episodes, votes, trees = scripted_rollouts(n_tasks=4, n=2)
    evil = synthetic_episodes(3, inject=INJECTION)
    save_jsonl(evil + episodes + votes + trees + [RunStats(episodes=len(episodes))], d / "mixed.jsonl")
    save_jsonl(synthetic_episodes(10_000, marker_every=97), d / "big.jsonl")
    for name in ("mixed", "big"):
        (d / f"{name}.html").write_text(build_html(detect(d / f"{name}.jsonl")), encoding="utf-8")
    return d


def test_transcripts_render_and_injection_stays_text(pages, tmp_path):
    dom, console, _ = chromium((pages / "mixed.html").as_uri() + "#open=all", tmp_path, "--dump-dom")
    attrs = loaded_ok(dom, console)
    tags = elements(dom)
    assert not any("data-pwned" in a for _, a in tags)  # nothing injected ran (script, handler or link)
    assert attrs["data-rendered"] == attrs["data-matches"] == str(3 + 8 + 8)
    assert dom.count('class="ep"') == 19 and dom.count('class="msg role-') >= 3 * 2 + 8 * 2 + 8 * 3
    # the injected markup is shown as text (escaped in the DOM), never as elements
    assert "&lt;script&gt;document.body.setAttribute('data-pwned','script')&lt;/script&gt;&lt;/textarea&gt;" in dom
    assert not {t for t, _ in tags} & {"img", "svg", "a", "textarea", "iframe"}  # no element from the data
    assert not any(k.startswith("on") for _, a in tags for k in a)  # no event-handler attribute anywhere
    assert [t for t, _ in tags].count("script") == 2  # the page's own two
    assert "counterfactual reward" in dom and "team reward" in dom and "exact context" in dom


def test_tree_tab_shows_values_credit_and_diffs(pages, tmp_path):
    dom, console, _ = chromium((pages / "mixed.html").as_uri() + "#tab=trees&open=all", tmp_path, "--dump-dom")
    attrs = loaded_ok(dom, console)
    assert attrs["data-matches"] == "2" and dom.count('class="tree"') == 2
    assert dom.count("data-node=") == 2 * (2 + 2 * 3)  # fan-out [2, 3] per tree
    assert "LOO credit" in dom and "advantage" in dom and "byte-identical, checked" in dom
    assert 'class="chg"' in dom  # sibling differences highlighted


def test_ten_thousand_episodes_filter_and_lazy_rendering(pages, tmp_path):
    """One load of the 10,000-episode page with a search: the filter finds exactly the episodes that
    say 'needle' (every 97th), and only one page of them (50) is in the DOM."""
    html = pages / "big.html"
    dom, console, wall = chromium(html.as_uri() + "#q=needle", tmp_path, "--dump-dom")
    attrs = loaded_ok(dom, console)
    assert attrs["data-matches"] == str(len(range(0, 10_000, 97)))  # 104
    assert attrs["data-rendered"] == "50" and dom.count('class="ep"') == 50 and "104 of 10000 episodes match" in dom
    print(f"\n10,000 episodes: {html.stat().st_size / 1e6:.1f} MB page, script done {attrs['data-init-ms']} ms after "
          f"navigation start (search included), Chromium run {wall:.1f} s, load average {os.getloadavg()[0]:.2f}")


def test_run_page_screenshot(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    from tests.test_view import RUN_RECORDS  # noqa: PLC0415

    (run / "metrics.jsonl").write_text("".join(__import__("json").dumps(r) + "\n" for r in RUN_RECORDS))
    page = tmp_path / "run.html"
    page.write_text(build_html(detect(run)), encoding="utf-8")
    shot = tmp_path / "run.png"
    _, console, _ = chromium(page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1000,700", "--hide-scrollbars")
    assert not console, console
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
