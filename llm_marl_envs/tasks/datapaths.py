"""Where benchmark data files are looked for. Nothing is ever downloaded.

Search order for a dataset file ``<dataset>/<file>``:
1. an explicit ``path=`` argument (a file, or a folder that holds the file);
2. the dataset's own environment variable (e.g. ``LLM_MARL_GSM8K``), a file or folder;
   when 1 or 2 is given but holds no such file, that is an error (no silent fallback);
3. ``$LLM_MARL_DATA/<dataset>/<file>``;
4. ``shared/data/<dataset>/<file>`` beside or inside the repository checkout, and in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


class DatasetNotFoundError(FileNotFoundError):
    """Raised with a message that says exactly where to put the missing file."""


def data_roots() -> list[Path]:
    roots = []
    if os.environ.get("LLM_MARL_DATA"):
        roots.append(Path(os.environ["LLM_MARL_DATA"]))
    roots += [_REPO_ROOT.parent / "shared" / "data", _REPO_ROOT / "shared" / "data", Path.cwd() / "shared" / "data"]
    return roots


def find_data_file(dataset: str, filenames: list[str], *, path: str | Path | None = None, env_var: str | None = None) -> Path:
    """Return the first existing candidate for one of ``filenames`` of ``dataset``.

    Raises :class:`DatasetNotFoundError` naming every place that was searched.
    """
    candidates: list[Path] = []
    explicit = [(Path(path), "path=")] if path is not None else []
    if env_var and os.environ.get(env_var):
        explicit.append((Path(os.environ[env_var]), f"${env_var}"))
    for p, given_as in explicit:
        if p.is_file():
            return p
        found = [p / name for name in filenames if (p / name).is_file()]
        if found:
            return found[0]
        raise DatasetNotFoundError(
            f"dataset {dataset!r} not found (this project never downloads data): {given_as} {str(p)!r} is "
            f"neither one of {filenames} nor a folder holding one. Fix: point {given_as} at the file."
        )
    for root in data_roots():
        candidates += [root / dataset / name for name in filenames]
    for c in candidates:
        if c.is_file():
            return c
    where = "\n  ".join(str(c) for c in candidates)
    hint = f"set {env_var}=<file> or " if env_var else ""
    raise DatasetNotFoundError(
        f"dataset {dataset!r} not found (this project never downloads data). Looked for:\n  {where}\n"
        f"Fix: {hint}pass path=<file>, or put the file at $LLM_MARL_DATA/{dataset}/{filenames[0]}."
    )
