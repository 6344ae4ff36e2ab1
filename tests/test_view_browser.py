"""llm-marl view in a real browser (issue 18): headless Chromium loads the pages, their script runs
without console errors or CSP refusals, injected model text stays text, and the filter and lazy
rendering work with 10,000 episodes. Skipped (with the reason) where Chromium is not installed:
``apt-get install -y chromium`` (Debian) provides it."""

from __future__ import annotations

import json
import os
import re
import select
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


class CDP:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (fds 3 and 4; no
    extra package): one page, commands with their replies, events kept for inspection."""

    def __init__(self, tmp: Path) -> None:
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()

        def child() -> None:  # the browser reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(r1), os.dup(w2)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        args = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
                f"--user-data-dir={tmp / 'cdp-profile'}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(args, preexec_fn=child, close_fds=False,  # noqa: PLW1509
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r1)
        os.close(w2)
        self.w, self.r, self.buf, self.n, self.events = w1, r2, b"", 0, []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Runtime.enable", "Page.enable", "Log.enable"):
            self.send(method, page=True)

    def _read(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.r], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium sent nothing")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, *, page: bool = False, timeout: float = 60) -> dict:
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params or {}}
        if page:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self.n:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name: str, timeout: float = 60) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == name:
                return self.events.pop(i)
        while True:
            e = self._read(timeout)
            if e.get("method") == name:
                return e
            self.events.append(e)

    def navigate(self, url: str) -> float:
        """Load ``url``; seconds from the command to the load event."""
        t0 = time.perf_counter()
        self.send("Page.navigate", {"url": url}, page=True)
        self.wait_event("Page.loadEventFired")
        return time.perf_counter() - t0

    def js(self, expression: str):
        """Evaluate ``expression`` in the page (a Promise is awaited); its JSON value."""
        res = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                        page=True)
        assert "exceptionDetails" not in res, res
        return res["result"].get("value")

    def problems(self) -> list[dict]:
        """Exceptions, console errors/warnings, error log entries (CSP refusals) and dialogs so far."""
        bad = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening") or (
                    m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert")) or (
                    m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning")):
                bad.append(e)
        return bad

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.w)
        os.close(self.r)


AFTER = "new Promise(r => setTimeout(() => r(%s), 400))"  # past the page's 150 ms input debounce


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
    dom, console, wall = chromium(html.as_uri() + "#q=needle&open=all", tmp_path, "--dump-dom")
    attrs = loaded_ok(dom, console)
    assert attrs["data-matches"] == str(len(range(0, 10_000, 97)))  # 104
    assert dom.count("<mark>needle</mark>") == 50  # the term is marked in each shown transcript
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


def test_interactive_filters_paging_and_lazy_bodies_with_10000_episodes(pages, tmp_path):
    """Driven like a user through DevTools: type a search, pick a verdict, page on, open an episode;
    and the injection page with every episode and context opened by clicks: nothing runs, no dialog."""
    cdp = CDP(tmp_path)
    try:
        load_s = cdp.navigate((pages / "big.html").as_uri())
        assert cdp.js("document.body.dataset.ok") == "1"
        assert cdp.js("document.querySelectorAll('details.ep').length") == 50
        typed = cdp.js("(() => { const q = document.getElementById('q'); q.value = 'NEEDLE';"
                       " q.dispatchEvent(new Event('input')); return 0; })()")
        assert typed == 0
        assert cdp.js(AFTER % "document.getElementById('count').textContent") == "104 of 10000 episodes match"
        refresh_ms = int(cdp.js("document.body.dataset.refreshMs"))
        cdp.js("(() => { const v = document.getElementById('verdict'); v.value = 'correct';"
               " v.dispatchEvent(new Event('change')); })()")
        correct = sum(1 for i, e in enumerate(synthetic_episodes(10_000, marker_every=97)) if i % 97 == 0 and e.verdict.correct)
        assert cdp.js(AFTER % "document.body.dataset.matches") == str(correct)
        cdp.js("(() => { const v = document.getElementById('verdict'); v.value = '';"
               " v.dispatchEvent(new Event('change')); document.getElementById('next').click(); })()")
        assert cdp.js(AFTER % "[document.getElementById('where').textContent.trim(), "
                              "document.querySelectorAll('details.ep').length]") == ["page 2 of 3", 50]
        assert "page=1" in cdp.js("location.hash") and "q=NEEDLE" in cdp.js("location.hash")
        assert cdp.js("document.querySelectorAll('details.ep .msg').length") == 0  # bodies are built on opening
        cdp.js("document.querySelector('details.ep > summary').click()")
        assert cdp.js(AFTER % "document.querySelectorAll('details.ep .msg').length") == 2
        assert not cdp.problems(), cdp.problems()
        print(f"\n10,000 episodes (DevTools): load event {load_s * 1000:.0f} ms after navigate, "
              f"search over all of them {refresh_ms} ms, load average {os.getloadavg()[0]:.2f}")

        cdp.navigate((pages / "mixed.html").as_uri())
        opened = cdp.js("(() => { document.querySelectorAll('details.ep > summary').forEach(s => s.click()); return 1; })()")
        assert opened == 1
        n_ctx = cdp.js(AFTER % "(() => { const c = document.querySelectorAll('details.ctx > summary');"
                                " c.forEach(s => s.click()); return c.length; })()")
        assert n_ctx > 19
        state = cdp.js(AFTER % "[document.body.hasAttribute('data-pwned'), document.querySelectorAll('img, a, svg, "
                                "textarea, iframe').length, document.querySelectorAll('script').length, "
                                "document.body.innerText.includes(\"<script>document.body.setAttribute('data-pwned'\")]")
        assert state == [False, 0, 2, True]  # nothing ran, no element from the data, the text is shown as text
        assert not cdp.problems(), cdp.problems()
    finally:
        cdp.close()
