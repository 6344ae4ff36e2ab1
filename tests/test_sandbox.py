"""The sandbox API: run_python, Sandbox pool, statuses, limits, backends."""

from __future__ import annotations

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_marl_envs.sandbox import (
    BACKENDS,
    EXEC_STATUSES,
    ExecResult,
    Limits,
    Sandbox,
    _zygote,
    detect_backend,
    run_python,
)
from llm_marl_envs.sandbox.backend import _probe

BACKEND = detect_backend()


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=2) as sandbox:
        yield sandbox


def test_backend_is_detected_and_reported():
    info = detect_backend()
    assert info.name in BACKENDS and info.reason
    assert info.probes[info.name] == "ok"
    assert detect_backend() is info  # cached
    print(f"\nsandbox backend: {info.name} ({info.reason})")


def test_bubblewrap_is_chosen_when_it_works():
    if os.environ.get("LLM_MARL_SANDBOX"):
        pytest.skip("a backend is forced via LLM_MARL_SANDBOX")
    if _probe("bwrap") is not None:
        pytest.skip("bubblewrap does not work on this host")
    assert BACKEND.name == "bwrap" and BACKEND.filesystem_isolated and BACKEND.network_isolated


def test_run_python_fresh_mode_basics():
    r = run_python("import sys\nprint('hi')\nprint('err', file=sys.stderr)")
    assert isinstance(r, ExecResult)
    assert (r.status, r.exit_code, r.stdout, r.stderr) == ("ok", 0, "hi\n", "err\n")
    assert r.duration_s > 0 and r.backend == BACKEND.name


def test_stdin_is_passed():
    r = run_python("import sys\nprint(sys.stdin.read().upper())", stdin="abc\ndef")
    assert r.stdout == "ABC\nDEF\n"


@pytest.mark.parametrize(
    ("code", "status", "exit_code"),
    [
        ("pass", "ok", 0),
        ("import sys\nsys.exit(3)", "error", 3),
        ("raise ValueError('boom')", "error", 1),
        ("def f(:\n", "error", 1),
        ("import sys\nsys.exit('message')", "error", 1),
        ("import os\nos._exit(7)", "error", 7),
    ],
)
def test_statuses_and_exit_codes(sb, code, status, exit_code):
    r = sb.run_python(code)
    assert r.status in EXEC_STATUSES
    assert (r.status, r.exit_code) == (status, exit_code)


def test_traceback_looks_like_a_script(sb):
    r = sb.run_python("x = 1\nraise KeyError('k')")
    assert 'File "solution.py", line 2' in r.stderr and "KeyError" in r.stderr
    assert "zygote" not in r.stderr


def test_timeout_and_memory_parameters(sb):
    assert sb.run_python("import time\ntime.sleep(2)", timeout_s=0.3).status == "timeout"
    assert sb.run_python("import time\ntime.sleep(0.1)\nprint(1)", timeout_s=5).status == "ok"
    assert sb.run_python("x = bytearray(200 * 1024 * 1024)", memory_mb=100).status == "memory"
    assert sb.run_python("x = bytearray(50 * 1024 * 1024)\nprint(len(x))", memory_mb=400).stdout == "52428800\n"


def test_output_cap_is_configurable():
    with Sandbox(workers=1, limits=Limits(output_bytes=1000)) as small:
        r = small.run_python("print('y' * 5000)")
    assert r.status == "output_limit" and len(r.stdout) == 1000


def test_environment_and_workdir_are_private(sb):
    r = sb.run_python("import os\nprint(sorted(os.environ))\nprint(os.getcwd() == os.environ['HOME'])\nprint(os.listdir('.'))")
    env, same, listing = r.stdout.splitlines()
    assert env == "['HOME', 'LANG', 'PATH', 'TMPDIR']"
    assert same == "True" and listing == "[]"


def test_each_job_gets_a_fresh_process_and_workdir(sb):
    first = sb.run_python("import os\nopen('left.txt', 'w').write('x')\nglobal_state = 1\nprint(os.getpid())")
    second = sb.run_python("import os\nprint(os.listdir('.'), 'global_state' in globals())")
    assert first.status == "ok"
    assert second.stdout == "[] False\n"


@pytest.mark.skipif(not BACKEND.drops_uid, reason="not root: no uid drop")
def test_jobs_run_unprivileged(sb):
    r = sb.run_python("import os\nprint(os.getuid(), os.geteuid(), os.getgroups())")
    uid, euid, groups = r.stdout.split(maxsplit=2)
    assert int(uid) == int(euid) != 0 and groups.strip() == "[]"


def test_pool_is_thread_safe_and_keeps_order(sb):
    def job(i: int) -> str:
        return sb.run_python(f"print({i} * {i})").stdout

    with ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(job, range(40)))
    assert outs == [f"{i * i}\n" for i in range(40)]


def test_pool_waits_for_a_free_worker():
    with Sandbox(workers=1) as one:
        results = []
        threads = [threading.Thread(target=lambda: results.append(one.run_python("import time\ntime.sleep(0.2)\nprint(1)")))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.stdout for r in results] == ["1\n"] * 3


def test_closed_pool_refuses_work():
    pool = Sandbox(workers=1)
    pool.close()
    with pytest.raises(RuntimeError):
        pool.run_python("pass")


def test_dead_worker_is_replaced(sb):
    worker = sb._all[0]
    worker.proc.kill()
    worker.proc.wait()
    for _ in range(4):
        assert sb.run_python("print('again')").stdout == "again\n"


def test_harness_deadline_backstop_kills_a_stuck_worker():
    from llm_marl_envs.sandbox import worker as worker_mod

    with Sandbox(workers=1) as one:
        w = one._all[0]
        for pid in _descendants(w.proc.pid):
            os.kill(pid, signal.SIGSTOP)  # freeze the worker: the zygote can no longer enforce anything
        old = worker_mod.GRACE_S
        worker_mod.GRACE_S = 0.5
        try:
            r = one.run_python("print(1)", timeout_s=0.5)
        finally:
            worker_mod.GRACE_S = old
        assert r.status == "timeout" and "killed" in r.detail
        assert one.run_python("print(2)").stdout == "2\n"
        for pid in _descendants(one._all[0].proc.pid):
            os.kill(pid, signal.SIGSTOP)  # frozen again: a job larger than the pipe buffer must not hang us
        worker_mod.GRACE_S = 0.5
        try:
            r = one.run_python("x = 1\n" * 200_000, timeout_s=0.5)
        finally:
            worker_mod.GRACE_S = old
        assert r.status == "timeout"
        assert one.run_python("print(3)").stdout == "3\n"


def _descendants(root: int) -> list[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    parents[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except OSError:
                pass
    out, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier]
        out += frontier
    return out


def test_non_string_source_is_a_type_error(sb):
    with pytest.raises(TypeError):
        sb.run_python(b"print(1)")  # type: ignore[arg-type]


def test_weird_source_text_never_raises(sb):
    for src in ["\x00", "\udcff = 1", "print('\\u00e9')", "x" * 100_000, "(" * 500]:
        r = sb.run_python(src)
        assert r.status in EXEC_STATUSES


@pytest.mark.parametrize("name", ["unshare", "rlimits"])
def test_fallback_backends_run_and_enforce_limits(name):
    why = _probe(name)
    if why is not None:
        pytest.skip(f"{name} unavailable here: {why}")
    shm_mode = os.stat("/dev/shm").st_mode if os.path.isdir("/dev/shm") else None
    with Sandbox(workers=1, backend=name) as pool:
        assert pool.backend.name == name
        assert pool.run_python("print(40 + 2)").stdout == "42\n"
        assert pool.run_python("while True: pass", timeout_s=0.5).status == "timeout"
        assert pool.run_python("x = bytearray(2 * 1024 ** 3)", memory_mb=256).status == "memory"
        r = pool.run_python("import os\nprint(sorted(os.environ))")
        assert r.stdout == "['HOME', 'LANG', 'PATH', 'TMPDIR']\n"
    if shm_mode is not None:
        assert os.stat("/dev/shm").st_mode == shm_mode, "a worker changed the host's /dev/shm"


def test_rlimits_only_backend_warns_loudly(monkeypatch):
    from llm_marl_envs.sandbox import backend

    monkeypatch.setenv("LLM_MARL_SANDBOX", "rlimits")
    monkeypatch.setattr(backend, "_CHOSEN", backend._CHOSEN)  # restored after the test
    with pytest.warns(RuntimeWarning, match="NO NAMESPACE ISOLATION"):
        info = detect_backend(refresh=True)
    assert info.name == "rlimits" and not info.filesystem_isolated and not info.private_pidns
    assert info.network_isolated == info.seccomp  # only the syscall filter keeps it off the network


def test_unknown_forced_backend_is_an_error(monkeypatch):
    from llm_marl_envs.sandbox import backend

    monkeypatch.setenv("LLM_MARL_SANDBOX", "docker")
    monkeypatch.setattr(backend, "_CHOSEN", backend._CHOSEN)
    with pytest.raises(RuntimeError, match="LLM_MARL_SANDBOX"):
        detect_backend(refresh=True)


def test_shared_pool_is_one_object_per_process():
    from llm_marl_envs.sandbox import shared_sandbox

    a, b = shared_sandbox(), shared_sandbox()
    assert a is b and a.workers >= 2
    assert a.run_python("print(3)").stdout == "3\n"


def test_doctor_reports_backend_data_and_packages(capsys):
    import argparse
    import json

    from llm_marl_envs import doctor

    parser = argparse.ArgumentParser()
    doctor.add_arguments(parser)
    assert doctor.run(parser.parse_args([])) == 0
    text = capsys.readouterr().out
    assert f"backend = {BACKEND.name}" in text and "probe" in text
    assert "mbpp" in text and "humaneval" in text and "torch" in text
    assert doctor.run(parser.parse_args(["--json", "--no-run"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sandbox"]["backend"] == BACKEND.name
    from tests.conftest import shared_data_present

    if shared_data_present():
        assert report["data"]["mbpp"].endswith("mbpp.jsonl")
    assert set(report["packages"]) >= {"torch", "transformers", "vllm", "openai"}


def test_script_semantics_main_block_and_pickle(sb):
    code = ("import pickle, sys\nclass K:\n    pass\n"
            "if __name__ == '__main__':\n    print(type(pickle.loads(pickle.dumps(K()))).__name__, sys.argv)\n")
    assert sb.run_python(code).stdout == "K ['solution.py']\n"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)), max_size=6))
def test_worker_replies_are_valid_json_that_round_trips(reply):
    """The worker writes its JSON replies by hand (no ``json`` import inside the sandbox)."""
    frame = _zygote.encode_reply(reply)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert json.loads(frame[4:]) == reply
