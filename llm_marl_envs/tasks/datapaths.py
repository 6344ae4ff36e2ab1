"""Where benchmark data files are looked for. Nothing is ever downloaded.

Search order for a dataset file ``<dataset>/<file>``:
1. an explicit ``path=`` argument (``--path`` on the command line): a file, or a folder that holds it;
2. the dataset's own environment variable (e.g. ``LLM_MARL_GSM8K``), a file or folder;
3. ``$LLM_MARL_DATA/<dataset>/<file>``;
4. only when none of 1-3 is given: ``shared/data/<dataset>/<file>`` beside or inside the repository
   checkout, and in the working directory.

An explicit setting (1, 2 or 3) that holds no such file is an error naming the setting, the folder
and the files looked for: it never falls back silently to the shared data.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ENV_VAR = "LLM_MARL_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """Raised with a message that says exactly where to put the missing file."""


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    out = []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def default_data_roots() -> list[Path]:
    """The shared-data folders searched when no explicit setting is given (duplicates removed)."""
    return _unique([_REPO_ROOT.parent / "shared" / "data", _REPO_ROOT / "shared" / "data", Path.cwd() / "shared" / "data"])


def data_roots() -> list[Path]:
    """The data roots in use: ``[$LLM_MARL_DATA]`` when that is set, else :func:`default_data_roots`."""
    if os.environ.get(DATA_ENV_VAR):
        return [Path(os.environ[DATA_ENV_VAR])]
    return default_data_roots()


def _names(filenames: list[str]) -> str:
    return ", ".join(filenames)


def find_data_file(dataset: str, filenames: list[str], *, path: str | Path | None = None, env_var: str | None = None) -> Path:
    """Return the first existing candidate for one of ``filenames`` of ``dataset``.

    Raises :class:`DatasetNotFoundError` (one line) naming the setting that was used, the folder and
    the files looked for.
    """
    explicit = [(Path(path), "path= (--path)")] if path is not None else []
    if env_var and os.environ.get(env_var):
        explicit.append((Path(os.environ[env_var]), f"${env_var}"))
    for p, given_as in explicit[:1]:
        if p.is_file():
            return p
        found = [p / name for name in filenames if (p / name).is_file()]
        if found:
            return found[0]
        raise DatasetNotFoundError(
            f"dataset {dataset!r} not found (this project never downloads data): {given_as} {str(p)!r} is "
            f"neither a file nor a folder holding one of: {_names(filenames)}. Fix: point {given_as} at the file."
        )
    if os.environ.get(DATA_ENV_VAR):
        root = Path(os.environ[DATA_ENV_VAR])
        for name in filenames:
            if (root / dataset / name).is_file():
                return root / dataset / name
        raise DatasetNotFoundError(
            f"dataset {dataset!r} not found (this project never downloads data): ${DATA_ENV_VAR}={str(root)!r} holds no {dataset}/<file> "
            f"(looked for {_names([f'{root / dataset / n}' for n in filenames])}). Fix: put the file there, "
            f"or unset {DATA_ENV_VAR} to use the shared data folder."
        )
    candidates = [root / dataset / name for root in default_data_roots() for name in filenames]
    for c in candidates:
        if c.is_file():
            return c
    hint = f"set {env_var}=<file>, " if env_var else ""
    raise DatasetNotFoundError(
        f"dataset {dataset!r} not found (this project never downloads data); looked for: "
        f"{', '.join(str(c) for c in candidates)}. Fix: {hint}pass path=<file> (--path on the command line), "
        f"or put the file at ${DATA_ENV_VAR}/{dataset}/{filenames[0]}."
    )
