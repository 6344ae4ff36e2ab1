"""Issue 14, set-up: no setuptools deprecation warnings from pyproject.toml, and scripts/setup.sh
installs the CPU torch where there is no GPU (or says how to get it), tested with a stub pip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def test_pyproject_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    """Regression: ``license = { text = ... }`` made every build print three SetuptoolsDeprecationWarnings."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["license"] == "Apache-2.0"
    (setuptools,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools.replace(" ", "") == "setuptools>=77"  # the first to read SPDX strings
    # a flat layout mapped to the root: editable installs are a silent .pth, not the meta-path
    # finder that prints an "Editable installation" warning
    assert data["tool"]["setuptools"]["package-dir"] == {"": "."}


def _report(cuda: bool) -> dict:
    torch_version = "2.13.0" if cuda else "2.13.0+cpu"
    items = [{"metadata": {"name": "torch", "version": torch_version},
              "download_info": {"url": f"https://example.invalid/torch-{torch_version}.whl"}}]
    if cuda:
        items.append({"metadata": {"name": "nvidia-cublas-cu12", "version": "12.0"},
                      "download_info": {"url": "https://example.invalid/nvidia.whl"}})
    return {"install": items}


def run_install_torch(tmp_path: Path, *, cuda_report: bool, gpu: bool = False, index_ok: bool = True,
                      extra_env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Source scripts/setup.sh and call ``install_torch`` with a stub venv python whose pip logs its
    arguments (a dry run writes the given report) and a stub ``nvidia-smi``."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    report = tmp_path / "canned.json"
    report.write_text(json.dumps(_report(cuda_report)))
    python = venv / "bin" / "python"
    python.write_text(textwrap.dedent(f"""\
        #!/usr/bin/env bash
        if [ "$1" = "-" ]; then exec {sys.executable} "$@"; fi
        shift 2  # -m pip
        echo "$*" >> {log}
        if [[ " $* " == *" --dry-run "* ]]; then
            while [ $# -gt 0 ]; do if [ "$1" = "--report" ]; then cp {report} "$2"; fi; shift; done
            exit 0
        fi
        if [[ " $* " == *" --index-url "* ]]; then exit {0 if index_ok else 1}; fi
        exit 0
        """))
    python.chmod(0o755)
    stub_bin = tmp_path / "stubbin"
    stub_bin.mkdir()
    smi = stub_bin / "nvidia-smi"
    smi.write_text(f"#!/usr/bin/env bash\nexit {0 if gpu else 1}\n")
    smi.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub_bin}:{os.environ['PATH']}", **(extra_env or {})}
    if "TORCH_CUDA_OK" not in (extra_env or {}):
        env.pop("TORCH_CUDA_OK", None)
    script = f'source {ROOT / "scripts" / "setup.sh"}; VENV={venv}; PIP="$VENV/bin/python -m pip"; install_torch'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


def test_no_gpu_and_pip_resolves_a_cpu_build_installs_it_as_is(tmp_path):
    proc, calls = run_install_torch(tmp_path, cuda_report=False)
    assert proc.returncode == 0, proc.stderr
    assert "resolves to a CPU build here (torch 2.13.0+cpu" in proc.stdout
    assert len(calls) == 2 and "--dry-run" in calls[0] and calls[1] == "install -q torch==2.13.0"


def test_no_gpu_and_pypi_would_give_cuda_takes_the_cpu_index(tmp_path):
    """Regression: a stock machine's ``pip install torch==2.13.0`` pulled the multi-GB CUDA build."""
    proc, calls = run_install_torch(tmp_path, cuda_report=True)
    assert proc.returncode == 0, proc.stderr
    assert calls[-1].endswith("--index-url https://download.pytorch.org/whl/cpu torch==2.13.0")
    assert not any(c == "install -q torch==2.13.0" for c in calls)  # never the CUDA build


def test_no_gpu_no_cpu_index_stops_and_says_how(tmp_path):
    proc, calls = run_install_torch(tmp_path, cuda_report=True, index_ok=False)
    assert proc.returncode == 1
    assert "download the CPU wheel" in proc.stderr and "TORCH_CUDA_OK=1" in proc.stderr
    assert not any(c == "install -q torch==2.13.0" for c in calls)


def test_no_gpu_with_torch_cuda_ok_installs_the_cuda_build(tmp_path):
    proc, calls = run_install_torch(tmp_path, cuda_report=True, extra_env={"TORCH_CUDA_OK": "1"})
    assert proc.returncode == 0 and calls[-1] == "install -q torch==2.13.0"


def test_a_gpu_gets_pypis_cuda_build_without_a_dry_run(tmp_path):
    proc, calls = run_install_torch(tmp_path, cuda_report=True, gpu=True)
    assert proc.returncode == 0 and calls == ["install -q torch==2.13.0"] and "GPU found" in proc.stdout
