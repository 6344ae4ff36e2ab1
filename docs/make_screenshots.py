"""Make the README's screenshots of ``llm-marl view`` with headless Chromium (one per view kind).

    .venv/bin/python docs/make_screenshots.py --run RUN_DIR --lab LAB_DIR [--credit CREDIT_DIR]

Rollout pages come from real envs played by scripted agents (``llm_marl_envs.view.samples``);
the run and benchmark pages from the folders given. PNGs go to ``docs/`` (quantised below 200 KB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from llm_marl_envs.rollout.data import save_jsonl
from llm_marl_envs.view import build_html, detect
from llm_marl_envs.view.samples import scripted_rollouts

DOCS = Path(__file__).resolve().parent
LIMIT = 200_000


def shoot(html: Path, png: Path, fragment: str = "", size: str = "1200,900") -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise SystemExit("no Chromium on PATH (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        args = [chromium, "--headless", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
                f"--window-size={size}", f"--screenshot={png}", html.as_uri() + fragment]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        subprocess.run(args, check=True, capture_output=True, timeout=120)
    if png.stat().st_size > LIMIT:  # fewer colours, same pixels
        from PIL import Image

        Image.open(png).convert("RGB").quantize(colors=64).save(png, optimize=True)
    print(f"{png} {png.stat().st_size / 1e3:.0f} KB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a training run directory")
    ap.add_argument("--lab", type=Path, help="a 'bench lab' results folder")
    ap.add_argument("--credit", type=Path, help="a 'bench credit' results folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        episodes, votes, trees = scripted_rollouts(n_tasks=8, n=4, fanout=(2, 3))
        save_jsonl(votes + episodes, t / "episodes.jsonl")
        save_jsonl(trees, t / "trees.jsonl")
        pages = {"episodes": (t / "episodes.jsonl", f"#open={votes[0].episode_id}"),
                 "tree": (t / "trees.jsonl", f"#open={trees[0].tree_id}")}
        for name, path in (("run", args.run), ("bench-lab", args.lab), ("bench-credit", args.credit)):
            if path is not None:
                pages[name] = (path, "")
        for name, (path, fragment) in pages.items():
            html = t / f"{name}.html"
            html.write_text(build_html(detect(path)), encoding="utf-8")
            shoot(html, DOCS / f"view-{name}.png", fragment)


if __name__ == "__main__":
    main()
