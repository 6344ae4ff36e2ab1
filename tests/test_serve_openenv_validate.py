"""OpenEnv's own validator, offline: ``openenv validate --url`` (its CLI, a subprocess) against the
server that ``openenv.yaml``'s ``app`` names, started the way OpenEnv's tooling starts it
(``uvicorn <app> --port <port>``), and the manifest's keys against OpenEnv's own template.

OpenEnv's *local* check (``openenv validate DIR``) is not run here: it checks the layout of an
``openenv init`` project (its own pyproject.toml with openenv-core as a core dependency, uv.lock,
server/app.py with main()), which a package that ships the server as an extra does not have; the
README says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

openenv = pytest.importorskip("openenv")
httpx = pytest.importorskip("httpx")
yaml = pytest.importorskip("yaml")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "llm_marl_envs" / "serve" / "openenv.yaml"
TEMPLATE = Path(openenv.__file__).parent / "cli" / "templates" / "openenv_env" / "openenv.yaml"


def _openenv_cli() -> list[str]:
    exe = Path(sys.executable).parent / "openenv"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("openenv")
    if found is None:
        pytest.skip("openenv-core's 'openenv' command is not installed")
    return [found]


def test_manifest_has_openenv_templates_keys_and_its_app_loads():
    manifest = yaml.safe_load(MANIFEST.read_text())
    template = yaml.safe_load(TEMPLATE.read_text())
    assert set(manifest) == set(template)
    assert {k: manifest[k] for k in ("spec_version", "type", "runtime")} == {k: template[k] for k in ("spec_version", "type", "runtime")}
    from uvicorn.importer import import_from_string

    app = import_from_string(manifest["app"])
    # every built-in env is served (other tests in this process may have registered envs of their own)
    builtin = {"llm-marl/MathDyad-v0", "llm-marl/CodeVote-v0", "llm-marl/HintDyad-v0"}
    assert builtin <= set(app.state.env_ids)


def test_openenv_validate_url_passes_on_the_manifest_app():
    manifest = yaml.safe_load(MANIFEST.read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LLM_MARL_SERVE_ENVS": "llm-marl/MathDyad-v0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", manifest["app"], "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "server did not become healthy"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        out = subprocess.run([*_openenv_cli(), "validate", "--url", url], capture_output=True, text=True, timeout=180,
                             env={**os.environ, "NO_COLOR": "1"})
        assert out.returncode == 0, out.stdout + out.stderr
        report = json.loads(out.stdout)
        assert report["passed"] is True and report["summary"]["failed_criteria"] == []
        assert [c["id"] for c in report["criteria"]] == [
            "openapi_version_available", "health_endpoint", "metadata_endpoint", "schema_endpoint", "mcp_endpoint",
            "mode_endpoint_consistency"]
        assert report["standard_profile"] == "openenv-http/1.x" and report["mode"] == "simulation"
        assert [e["id"] for e in httpx.get(f"{url}/envs").json()] == ["llm-marl/MathDyad-v0"]  # the manifest's env var
    finally:
        proc.terminate()
        log, _ = proc.communicate(timeout=20)
    assert "Traceback" not in log, log
