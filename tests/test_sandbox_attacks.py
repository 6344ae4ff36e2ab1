"""One test per attack of reference/verifiers.md section 2.5 and issue #4, all bounded.

Each test asserts the status the sandbox reports and that the host is unaffected: no marker file,
the harness alive and its memory bounded, no process left behind under any worker's uid. Tests that
need a namespace the chosen backend lacks are skipped with the reason.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from llm_marl_envs.sandbox import Sandbox, detect_backend, run_python
from llm_marl_envs.sandbox.backend import stdlib_world_readable
from llm_marl_envs.verifiers.code import verify_code

BACKEND = detect_backend()
REPO = Path(__file__).resolve().parents[1]
needs_fs = pytest.mark.skipif(not BACKEND.filesystem_isolated,
                              reason=f"backend {BACKEND.name} has no filesystem isolation")
needs_net = pytest.mark.skipif(not BACKEND.network_isolated, reason=f"backend {BACKEND.name} has no network namespace")
needs_seccomp = pytest.mark.skipif(not BACKEND.seccomp, reason="no seccomp filter on this host")
needs_uid = pytest.mark.skipif(not BACKEND.drops_uid, reason="not root: jobs cannot run under a separate uid")
needs_pidns_or_uid = pytest.mark.skipif(not (BACKEND.private_pidns or BACKEND.drops_uid),
                                        reason="neither a pid namespace nor a separate uid")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=2) as sandbox:
        yield sandbox


def _uids(sandbox: Sandbox) -> set[int]:
    return {w.uid for w in sandbox._all if w.uid is not None}


def _host_processes(uids: set[int]) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid in uids:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        if f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X"):
                            found.append(int(name))
            except OSError:
                pass
    return found


def _run(sb: Sandbox, code: str, **kw):
    r = sb.run_python(textwrap.dedent(code), **kw)
    assert r.backend == BACKEND.name
    if sb.backend.drops_uid:
        assert _host_processes(_uids(sb)) == [], "the job left processes behind"
    ok = sb.run_python("print('alive')", timeout_s=10)
    assert ok.status == "ok" and ok.stdout == "alive\n", "the sandbox stopped working after the attack"
    return r


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("fork", ["os.fork()", "posix.fork()"])
def test_fork_bomb_is_stopped_and_cleaned_up(sb, fork):
    r = _run(sb, f"""
        import os, posix, time
        n = 0
        for _ in range(300):
            try:
                pid = {fork}
            except OSError:
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
        print(n)
    """, timeout_s=10)
    assert r.status == "ok", r
    n = int(r.stdout)
    assert n > 0, "ordinary forking must keep working"
    if BACKEND.drops_uid:
        assert n < 100, f"{n} forks succeeded: NPROC not enforced"
    assert r.duration_s < 10


@needs_uid
def test_subprocess_bomb_is_stopped(sb):
    r = _run(sb, """
        import subprocess, sys
        procs = []
        for _ in range(200):
            try:
                procs.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
            except OSError:
                break
        print(len(procs))
    """, timeout_s=15)
    assert r.status == "ok", r
    assert int(r.stdout) < 100


@needs_uid
@pytest.mark.skipif(BACKEND.name != "bwrap" and not stdlib_world_readable(),
                    reason="the job uid cannot import multiprocessing from this interpreter outside bubblewrap")
def test_multiprocessing_bomb_is_stopped(sb):
    r = _run(sb, """
        import multiprocessing as mp, time
        started = []
        for _ in range(200):
            try:
                p = mp.Process(target=time.sleep, args=(30,))
                p.start()
                started.append(p)
            except OSError:
                break
        print(len(started))
    """, timeout_s=10)
    assert r.status == "ok", r
    assert int(r.stdout) < 100


def test_thread_bomb_is_stopped(sb):
    r = _run(sb, """
        import threading, time
        n = 0
        for _ in range(1000):
            try:
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
            except RuntimeError:
                break
            n += 1
        print(n)
    """, timeout_s=10)
    assert r.status == "ok", r
    assert 0 < int(r.stdout) < 1000


def test_memory_bomb_hits_the_limit(sb):
    before = _maxrss_mb()
    r = _run(sb, """
        chunks = []
        for _ in range(64):
            chunks.append(bytearray(64 * 1024 * 1024))   # 4 GiB in total, touched
    """, memory_mb=256, timeout_s=10)
    assert r.status == "memory", r
    assert _maxrss_mb() - before < 100


def test_one_huge_allocation_is_a_memory_error(sb):
    r = _run(sb, "x = bytearray(3 * 1024 ** 3)", memory_mb=256)
    assert r.status == "memory" and "MemoryError" in r.stderr


@pytest.mark.parametrize("code", ["while True:\n    pass", "import time\ntime.sleep(3600)"],
                         ids=["cpu_loop", "sleep"])
def test_wall_clock_kill(sb, code):
    t = time.monotonic()
    r = _run(sb, code, timeout_s=1.0)
    assert r.status == "timeout", r
    assert time.monotonic() - t < 1.0 + 4.0


def test_disabled_alarm_still_times_out(sb):
    r = _run(sb, """
        import signal
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.alarm(0)
        while True:
            pass
    """, timeout_s=1.0)
    assert r.status == "timeout"


def test_blocking_input_gets_eof(sb):
    r = _run(sb, "x = input()", timeout_s=5)
    assert r.status == "error" and "EOFError" in r.stderr
    assert r.duration_s < 2


def test_double_fork_daemon_never_writes_its_marker(sb, tmp_path):
    tmp_path.chmod(0o777)
    marker = tmp_path / "daemon_marker"
    r = _run(sb, f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.0)
                open({str(marker)!r}, "w").write("escaped")
            os._exit(0)
        print("parent done")
    """, timeout_s=5)
    assert r.status == "ok"
    time.sleep(2.0)
    assert not marker.exists(), "a daemon outlived its job"


@needs_uid
def test_no_daemon_escapes_the_sweep_without_a_pid_namespace():
    """Regression: a listing of /proc taken as the daemon's parent exits can miss the daemon; the sweep
    listed once and left it running about one time in three on the rlimits backend."""
    code = textwrap.dedent("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
            os._exit(0)
    """)
    with Sandbox(workers=1, backend="rlimits") as pool:
        for _ in range(12):
            assert pool.run_python(code, timeout_s=5).status == "ok"
            assert _host_processes(_uids(pool)) == [], "a daemon outlived its job"


# Regressions from the review of the spawner rewrite: one job must never affect the next one.
ADD_SOLUTION = "def add(a, b):\n    return a + b\n"
_ZOMBIE_LEADER_FORGER = r"""
import os, signal, threading, ctypes, select, time
SPAWNER = os.getppid()
def later_jobs():
    found = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and "PPid:\t%d\n" % SPAWNER in open("/proc/%s/status" % p).read():
                found.append(int(p))
        except OSError:
            pass
    return found
def forge():  # waits for a later job's nonce on fd 4, stops that job, forges its end record on fd 3
    poller = select.poll(); poller.register(4, select.POLLIN)
    while True:
        poller.poll(100)
        try:
            nonce = os.read(4, 256).decode().strip()
        except OSError:
            continue
        for _ in range(10000):
            victims = later_jobs()
            try:
                for p in victims:
                    os.kill(p, signal.SIGSTOP)
            except OSError:
                continue
            if victims:
                os.write(3, ("P 0\nEND %s\n" % nonce).encode())
                for p in victims:
                    os.kill(p, signal.SIGKILL)
                break
if os.fork() == 0:
    os.setsid()
    threading.Thread(target=forge).start()
    ctypes.CDLL(None).pthread_exit(None)  # main thread gone: /proc says "Z" while the thread runs on
time.sleep(0.3)
def add(a, b):
    return a + b
"""


@needs_pidns_or_uid
def test_a_zombie_leaders_live_thread_is_swept_and_cannot_forge_later_results():
    wrong = "def add(a, b):\n    return a - b\n"
    with Sandbox(workers=1) as pool:
        verify_code(_ZOMBIE_LEADER_FORGER, ["assert add(1, 2) == 3"], sandbox=pool)
        time.sleep(0.3)
        for _ in range(3):
            assert not verify_code(wrong, ["assert add(1, 2) == 3"], sandbox=pool).correct
        if pool.backend.drops_uid:
            assert _host_processes(_uids(pool)) == []


def test_a_job_that_reconfigures_its_pipes_does_not_touch_the_next_job():
    """Shrinking fd 3 to one page and making fds 1/2 non-blocking: later jobs still get their
    (large) output and all their test records (each job has its own pipes)."""
    tests = [f"assert add({i}, 1) == {i + 1}" for i in range(600)]
    attack = ("import fcntl, os\nfor fd in (1, 2, 3):\n    fcntl.fcntl(fd, 1031, 4096)\n    os.set_blocking(fd, False)\n"
              + ADD_SOLUTION)
    with Sandbox(workers=1) as pool:
        verify_code(attack, tests, sandbox=pool, timeout_s=5)
        assert verify_code(ADD_SOLUTION, tests, sandbox=pool, timeout_s=5).correct
        r = pool.run_python("print('x' * 300_000)")
        assert r.status == "ok" and len(r.stdout) == 300_001


def test_a_work_dir_too_deep_for_recursion_does_not_break_the_worker():
    deep = "import os\nos.chdir('.')\nfor _ in range(1100):\n    os.mkdir('d')\n    os.chdir('d')\nopen('f', 'w').write('x')\n"
    with Sandbox(workers=1) as pool:
        assert pool.run_python(deep, timeout_s=20).status == "ok"
        for _ in range(2):
            assert pool.run_python("import os\nprint(os.listdir('.'))").stdout == "[]\n"


def test_a_malformed_job_is_an_error_and_the_worker_stays_in_step():
    from llm_marl_envs.sandbox.worker import Limits

    with Sandbox(workers=1) as pool:
        bad = {"mode": "run", "source": "print(1)", "stdin": "", **Limits().job_fields()}
        del bad["out_cap"]
        assert pool.execute(bad)["status"] == "error"
        for i in range(3):
            assert pool.run_python(f"print({i})").stdout == f"{i}\n"


def test_the_worker_recovers_when_its_spawner_dies():
    with Sandbox(workers=1, backend="rlimits") as pool:  # no pid namespace: the spawner is visible here
        assert pool.run_python("print(1)").stdout == "1\n"
        zygote = pool._all[0].proc.pid
        with open(f"/proc/{zygote}/task/{zygote}/children") as f:
            spawner = int(f.read().split()[0])
        os.kill(spawner, signal.SIGKILL)
        first = pool.run_python("print(2)")
        assert first.status == "error" and "spawner" in first.detail
        for i in range(3):
            assert pool.run_python(f"print({i})").stdout == f"{i}\n"


@needs_seccomp
def test_system_v_ipc_is_denied(sb):
    """Segments would outlive the job (and, without an IPC namespace, the worker)."""
    r = _run(sb, "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                 "print(libc.shmget(0x5EED, 4096, 0o1600), libc.semget(0x5EED, 1, 0o1600), ctypes.get_errno())")
    assert r.stdout.split() == ["-1", "-1", "1"]  # EPERM
def _writes(paths: list[str]) -> str:
    return textwrap.dedent(f"""
        for p in {paths!r}:
            try:
                with open(p, "w") as f:
                    f.write("x")
                print("WROTE", p)
            except OSError as e:
                print("blocked", p, type(e).__name__)
    """)


@needs_uid
def test_writes_to_repo_home_and_etc_are_blocked(sb):
    tag = uuid.uuid4().hex
    paths = [str(REPO / f"pwned_{tag}"), f"/etc/pwned_{tag}", f"/root/pwned_{tag}"]
    r = _run(sb, _writes(paths))
    for p in paths:
        assert not Path(p).exists(), f"{p} was written on the host"
    assert "WROTE" not in r.stdout


@needs_fs
def test_writes_to_the_system_temp_dir_stay_inside(sb):
    tag = uuid.uuid4().hex
    paths = [f"/tmp/pwned_{tag}", f"/var/tmp/pwned_{tag}", f"/dev/shm/pwned_{tag}"]
    _run(sb, _writes(paths))
    for p in paths:
        assert not Path(p).exists(), f"{p} was written on the host"


@needs_fs
def test_host_secret_file_is_not_readable(sb, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-42")
    secret.chmod(0o644)
    r = _run(sb, f"""
        try:
            print(open({str(secret)!r}).read())
        except OSError as e:
            print("denied", type(e).__name__)
    """)
    assert "TOPSECRET-42" not in r.stdout and "denied" in r.stdout


@needs_uid
def test_private_host_file_is_not_readable_even_without_fs_isolation(sb, tmp_path):
    tmp_path.chmod(0o755)
    secret = tmp_path / "key"
    secret.write_text("PRIVATE-99")
    secret.chmod(0o600)
    r = _run(sb, f"""
        try:
            print(open({str(secret)!r}).read())
        except OSError as e:
            print("denied", type(e).__name__)
    """)
    assert "PRIVATE-99" not in r.stdout


def test_environment_secret_is_absent(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "sk-planted-123")
    r = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('SECRET_TOKEN'))")
    assert r.status == "ok"
    assert "sk-planted-123" not in r.stdout and "SECRET_TOKEN" not in r.stdout
    assert r.stdout.splitlines()[-1] == "None"


@needs_net
def test_tcp_connect_to_a_host_listener_fails(sb):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    try:
        r = _run(sb, f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("CONNECTED")
            except OSError as e:
                print("failed", type(e).__name__)
            try:
                socket.getaddrinfo("localhost", {port})
                socket.create_connection(("localhost", {port}), timeout=2)
                print("CONNECTED")
            except OSError as e:
                print("failed", type(e).__name__)
        """)
    finally:
        t.join()
        server.close()
    assert "CONNECTED" not in r.stdout and not accepted


@needs_pidns_or_uid
def test_signalling_the_harness_fails(sb):
    me = os.getpid()
    r = _run(sb, f"""
        import os, signal
        for target in ({me}, os.getppid()):
            try:
                os.kill(target, 0)
                print("REACHED", target)
            except OSError as e:
                print("unreachable", type(e).__name__)
        try:
            os.kill({me}, signal.SIGKILL)
        except OSError:
            pass
    """)
    assert f"REACHED {me}" not in r.stdout
    assert "REACHED" not in r.stdout or BACKEND.private_pidns  # getppid() inside a pid namespace is the zygote


@needs_pidns_or_uid
def test_kill_everything_spares_the_harness(sb):
    r = _run(sb, "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('after')")
    assert r.status in ("ok", "error")  # the job may kill itself; the harness (this test) survives


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_100_mib_output_is_capped(sb, stream):
    before = _maxrss_mb()
    r = _run(sb, f"""
        import sys
        chunk = "x" * (1024 * 1024)
        for _ in range(100):
            sys.{stream}.write(chunk)
    """, timeout_s=10)
    assert r.status == "output_limit", r.status
    assert len(getattr(r, stream)) <= sb.limits.output_bytes
    assert _maxrss_mb() - before < 60


def test_1_gib_file_stops_at_the_size_limit(sb):
    r = _run(sb, """
        import errno
        written = 0
        try:
            with open("big.bin", "wb") as f:
                for _ in range(1024):
                    f.write(b"\\0" * (1024 * 1024))
                    f.flush()
                    written += 1024 * 1024
        except OSError as e:
            print(errno.errorcode.get(e.errno, e.errno))
        print(written)
    """, timeout_s=10)
    err, written = r.stdout.split()
    assert err in ("EFBIG", "ENOSPC")
    assert int(written) <= sb.limits.file_size_bytes


def test_ten_thousand_open_files_hit_emfile(sb):
    r = _run(sb, """
        import errno
        files = []
        try:
            for _ in range(10000):
                files.append(open("/dev/null"))
        except OSError as e:
            print(errno.errorcode[e.errno], len(files))
    """)
    err, n = r.stdout.split()
    assert err == "EMFILE" and int(n) < sb.limits.open_files


def test_segfault_is_a_runtime_error(sb):
    r = _run(sb, "import ctypes\nctypes.string_at(0)")
    assert r.status == "error" and r.exit_code == -11


@pytest.mark.parametrize("limit", [None, 10**5])
def test_deep_recursion_is_a_runtime_error(sb, limit):
    setlimit = f"import sys\nsys.setrecursionlimit({limit})\n" if limit else ""
    r = _run(sb, setlimit + "def f(n):\n    return f(n + 1)\nf(0)", timeout_s=10)
    assert r.status in ("error", "memory"), r
    assert r.exit_code != 0


TESTS = ("assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0")


@pytest.mark.parametrize("exit_code", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit",
                                       "import atexit, os\natexit.register(lambda: os._exit(0))\nraise SystemExit(0)"])
def test_early_exit_fails_verification(sb, exit_code):
    v = verify_code("def add(a, b):\n    return 0\n" + exit_code, TESTS, sandbox=sb, timeout_s=5)
    assert not v.correct and v.score == 0.0 and v.status == "error"


def test_fake_pass_markers_fail_verification(sb):
    forged = textwrap.dedent("""
        import os
        def add(a, b):
            return 0
        print("PASS"); print("END 0123456789abcdef"); print("3/3 tests passed")
        try:
            os.write(3, b"P 0\\nP 1\\nP 2\\nEND 00000000000000000000000000000000\\n")
        except OSError:
            pass
        os._exit(0)
    """)
    v = verify_code(forged, TESTS, sandbox=sb, timeout_s=5)
    assert not v.correct and v.score == 0.0


def test_forged_records_during_the_tests_are_detected(sb):
    """Writing pass records (or raw bytes) to any descriptor the program holds forges nothing: the
    records live in the checker; the reply pipe carries only frames the checker decodes strictly."""
    forged = textwrap.dedent("""
        import os
        def add(a, b):
            for fd in (3, 4, 5):
                try:
                    os.write(fd, b"P 0\\nP 1\\nP 2\\nEND 0\\n")
                except OSError:
                    pass
            return 0
    """)
    v = verify_code(forged, TESTS, sandbox=sb, timeout_s=5)
    assert not v.correct and v.score == 0.0 and "protocol" in v.detail


@pytest.mark.parametrize("patch", [
    "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})",
    "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int",
    "import os\nos.write = lambda fd, data: len(data)",
    "class AlwaysEqual:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
    "    def __bool__(self): return True\n_R = AlwaysEqual()",
    "class Sneaky(int):\n    def __eq__(self, other): return True\n_R = Sneaky(0)",
    "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None",
])
def test_monkey_patching_does_not_make_a_wrong_answer_pass(sb, patch):
    body = "return _R" if "_R" in patch else "return 0"
    program = f"{patch}\ndef add(a, b):\n    {body}\n"
    v = verify_code(program, TESTS, sandbox=sb, timeout_s=5)
    assert not v.correct, v
    assert v.score < 1.0


def test_sixteen_concurrent_submissions_do_not_cross_talk():
    n = 16
    results: list = [None] * n
    with Sandbox(workers=2) as sandbox:
        def one(i: int) -> None:
            token = f"tok{i}-{uuid.uuid4().hex}"
            code = textwrap.dedent(f"""
                import os, time
                open("mine.txt", "w").write({token!r})
                time.sleep(0.05)
                print(open("mine.txt").read(), sorted(os.listdir(".")))
            """)
            results[i] = (token, sandbox.run_python(code, timeout_s=20))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for token, r in results:
        assert r.status == "ok", r
        assert r.stdout == f"{token} ['mine.txt']\n"


def test_harness_survives_everything():
    # Reaching this point with the module's pool alive is the check; also the interpreter is intact.
    assert sys.modules.get("llm_marl_envs.sandbox") is not None
    assert run_python("print(6 * 7)").stdout == "42\n"


def test_no_new_privileges_and_no_capabilities(sb):
    r = _run(sb, "for l in open('/proc/self/status'):\n    if l.startswith(('NoNewPrivs', 'CapEff')):\n        print(l.split()[1])")
    cap_eff, no_new_privs = r.stdout.split()
    assert no_new_privs == "1"
    assert int(cap_eff, 16) == 0


@needs_seccomp
@pytest.mark.parametrize("one_off", [False, True], ids=["pool", "run_python"])
def test_every_job_runs_under_the_seccomp_filter(sb, one_off):
    """The filter is installed once in the worker (verified by the probe) and inherited by each job."""
    code = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith(('Seccomp:', 'NoNewPrivs:'))])"
    r = run_python(code) if one_off else sb.run_python(code)
    assert r.stdout.strip() == "['1', '2']"  # NoNewPrivs 1, Seccomp 2 (filter mode)


def test_parent_removes_the_workdir_after_an_abrupt_exit():
    # Only a host-side work root can be inspected from here; bubblewrap's lives in the worker's tmpfs.
    with Sandbox(workers=1, backend="rlimits") as pool:
        root = pool._all[0].workroot
        r = pool.run_python("import os\nos.makedirs('a/b')\nopen('a/b/f', 'w').write('x')\nos._exit(0)")
        assert r.status == "ok"
        assert os.listdir(root) == []
    assert not os.path.exists(root)


def test_nonce_is_not_in_memory_while_the_solution_runs(sb):
    """Frame and heap inspection for the run's nonce finds nothing to forge the end record with."""
    forged = textwrap.dedent("""
        import gc, os, sys
        found = set()
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, dict) and isinstance(value.get("nonce"), str):
                    found.add(value["nonce"])
            frame = frame.f_back
        for obj in gc.get_objects():
            if isinstance(obj, dict) and isinstance(obj.get("nonce"), str):
                found.add(obj["nonce"])
        for nonce in found:
            os.write(3, f"P 0\\nP 1\\nP 2\\nEND {nonce}\\n".encode())
        os._exit(0)
    """)
    v = verify_code(forged, TESTS, sandbox=sb, timeout_s=5)
    assert not v.correct and v.score == 0.0


@needs_seccomp
def test_seccomp_denies_namespaces_tracing_and_network_sockets(sb):
    r = _run(sb, """
        import ctypes, errno, socket
        libc = ctypes.CDLL(None, use_errno=True)
        def err(result):
            return errno.errorcode.get(ctypes.get_errno(), "?") if result == -1 else "ALLOWED"
        print("unshare", err(libc.unshare(0x10000000)))         # CLONE_NEWUSER
        print("ptrace", err(libc.ptrace(0, 0, 0, 0)))           # PTRACE_TRACEME
        print("keyctl", err(libc.syscall(250, 0, 0, 0, 0, 0)))
        print("bpf", err(libc.syscall(321, 0, 0, 0)))
        print("io_uring", err(libc.syscall(425, 1, 0)))
        for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET):
            try:
                socket.socket(fam, socket.SOCK_RAW if fam == socket.AF_NETLINK else socket.SOCK_STREAM)
                print("socket", int(fam), "ALLOWED")
            except OSError as e:
                print("socket", int(fam), errno.errorcode[e.errno])
        a, b = socket.socketpair()
        a.send(b"x")
        print("unix", b.recv(1))
    """)
    assert "ALLOWED" not in r.stdout, r.stdout
    assert "unix b'x'" in r.stdout
    assert r.stdout.count("EPERM") == 9, r.stdout


def test_files_left_in_shared_temp_dirs_are_removed_without_fs_isolation():
    # The weakest backend cannot stop writes to world-writable host dirs; it removes them after the job.
    tag = uuid.uuid4().hex
    paths = [f"/tmp/left_{tag}", f"/var/tmp/left_{tag}", f"/dev/shm/left_{tag}"]
    with Sandbox(workers=1, backend="rlimits") as pool:
        if pool._all[0].uid is None:
            pytest.skip("not root: jobs share the harness uid, nothing to attribute files by")
        r = pool.run_python(_writes(paths) + "import os\ntry:\n    os.makedirs('/tmp/dir_" + tag + "/x')\n"
                            "except OSError:\n    pass\n")
        assert r.status == "ok", r
        if any("Landlock" in gap for gap in pool.backend.gaps):  # confined: the writes themselves fail
            assert "WROTE" not in r.stdout, r.stdout
        else:
            assert f"WROTE /tmp/left_{tag}" in r.stdout  # the write itself succeeded (no private /tmp here)
    for p in [*paths, f"/tmp/dir_{tag}"]:
        assert not Path(p).exists(), f"{p} outlived its job"


@needs_seccomp
def test_posix_message_queues_are_denied(sb):
    """Regression: a queue outlived its job (and, on rlimits, the worker): a channel between jobs."""
    r = _run(sb, "import ctypes\nrt = ctypes.CDLL('librt.so.1', use_errno=True)\n"
                 "print(rt.mq_open(b'/llm-marl-test', 0o100 | 0o2, 0o600, None), ctypes.get_errno())")
    assert r.stdout.split() == ["-1", "1"]  # EPERM


@needs_uid
def test_a_restarted_worker_gets_a_new_uid():
    with Sandbox(workers=1) as pool:
        worker = pool._all[0]
        before = worker.uid
        worker.restart()
        assert pool.run_python("print(1)").stdout == "1\n"
        assert worker.uid != before


@pytest.mark.skipif(os.geteuid() == 0, reason="the job is root in its namespace only when the harness is not root")
def test_unshare_jobs_hold_no_capabilities():
    """Regression: mapped to root in their user namespace, jobs could write /proc/<spawner>/mem."""
    with Sandbox(workers=1, backend="unshare") as pool:
        r = pool.run_python("print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])")
    assert int(r.stdout, 16) == 0


def test_nothing_a_job_leaves_in_the_private_tmp_reaches_the_next_job():
    with Sandbox(workers=1) as pool:
        if pool.backend.name != "bwrap" or pool.backend.drops_uid:
            pytest.skip("only bubblewrap without root lets a job write the worker's /tmp")
        pool.run_python("open('/tmp/left', 'w').write('x')")
        assert "False" in pool.run_python("import os\nprint(os.path.exists('/tmp/left'))").stdout


# --- issue #13: what the weaker backends close, on every backend this machine has ----------------

def _working_backends() -> list[str]:
    from llm_marl_envs.sandbox import BACKENDS
    from llm_marl_envs.sandbox.backend import _probe

    return [name for name in BACKENDS if _probe(name) is None]


WORKING = _working_backends()


@pytest.mark.parametrize("backend", WORKING)
def test_host_unix_sockets_are_unreachable(backend, tmp_path):
    """Regression: on rlimits a job reached a host listener through an abstract Unix socket (while
    doctor reported network isolation), and on unshare/rlimits a pathname socket in a world-writable
    host dir."""
    abstract = f"\0llm-marl-test-{uuid.uuid4().hex}"
    shared = Path("/tmp") / f"llm-marl-sock-{uuid.uuid4().hex}"
    listeners = []
    for address in (abstract, str(shared)):
        s = socket.socket(socket.AF_UNIX)
        s.bind(address)
        s.listen(4)
        listeners.append(s)
    os.chmod(shared, 0o777)
    try:
        code = textwrap.dedent(f"""
            import socket
            for address in ({abstract!r}, {str(shared)!r}):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(address)
                    print("REACHED", repr(address))
                except OSError as e:
                    print("blocked", type(e).__name__)
        """)
        with Sandbox(workers=1, backend=backend) as pool:
            r = pool.run_python(code)
        assert r.status == "ok", r
        assert "REACHED" not in r.stdout and r.stdout.count("blocked") == 2, r.stdout
    finally:
        for s in listeners:
            s.close()
        shared.unlink(missing_ok=True)


@pytest.mark.parametrize("backend", WORKING)
def test_the_work_dir_and_shm_have_a_size_cap(backend):
    """Regression (unshare, rlimits): a job wrote 320 MiB into its work dir and 320 MiB into the
    host's /dev/shm. On unshare both are now private size-limited tmpfs copies; on rlimits Landlock
    denies /dev/shm (the work dir stays uncapped there: a stated gap)."""
    code = textwrap.dedent("""
        import os
        chunk = b"x" * (1 << 20)
        for folder in (".", "/dev/shm"):
            written = 0
            try:
                for i in range(320):
                    with open(os.path.join(folder, f"f{i}"), "wb") as f:
                        for _ in range(1):
                            f.write(chunk)
                    written += 1
            except OSError as e:
                pass
            print(folder, written)
    """)
    with Sandbox(workers=1, backend=backend) as pool:
        r = pool.run_python(code, timeout_s=30)
    assert r.status == "ok", r
    sizes = dict(line.split() for line in r.stdout.splitlines())
    assert int(sizes["/dev/shm"]) <= 16, r.stdout
    if backend != "rlimits":
        assert int(sizes["."]) < 320, r.stdout
    assert not any(p.name.startswith("f") and p.stat().st_size == 1 << 20 for p in Path("/dev/shm").iterdir()
                   if p.is_file()), "the job's files reached the host's /dev/shm"


@pytest.mark.skipif(os.geteuid() != 0, reason="without a uid of their own the job's processes cannot be told apart")
def test_a_harness_killed_with_sigkill_takes_its_rlimits_job_down():
    """Regression: on rlimits (no pid namespace) a harness killed with SIGKILL left its job running."""
    import subprocess

    harness = textwrap.dedent("""
        from llm_marl_envs.sandbox import Sandbox
        with Sandbox(workers=1, backend="rlimits") as pool:
            print(pool._all[0].workroot, flush=True)
            pool.run_python(
                "import os, time\\n"
                "child = os.fork()\\n"
                "if child == 0:\\n"
                "    time.sleep(60)\\n"
                "    os._exit(0)\\n"
                "open('pids.tmp', 'w').write(f'{os.getpid()} {child}')\\n"
                "os.rename('pids.tmp', 'pids')\\n"
                "time.sleep(60)\\n", timeout_s=60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", harness], stdout=subprocess.PIPE, cwd=REPO)
    try:
        marker = Path(proc.stdout.readline().decode().strip()) / "job" / "pids"
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        job_pids = [int(x) for x in marker.read_text().split()]
        assert len(job_pids) == 2 and all(_alive(p) for p in job_pids)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in job_pids):
            time.sleep(0.05)
        assert not any(_alive(p) for p in job_pids), "the job outlived its harness"
    finally:
        proc.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


@pytest.mark.parametrize("backend", WORKING)
def test_host_process_command_lines_are_unreadable(backend):
    """Regression (rlimits): a job read every host process's command line (this harness's included)."""
    code = textwrap.dedent("""
        import os
        seen = 0
        try:
            names = os.listdir("/proc")
        except OSError:
            names = []
        for name in names:
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/cmdline", "rb") as f:
                        seen += b"pytest" in f.read()
                except OSError:
                    pass
        print(seen)
    """)
    with Sandbox(workers=1, backend=backend) as pool:
        r = pool.run_python(code)
    assert r.status == "ok" and r.stdout.strip() == "0", r
