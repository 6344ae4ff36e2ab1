"""Isolation backends: probe once at start-up, pick the strongest that works, say why.

Order (DESIGN.md section 3): ``bwrap`` (bubblewrap: every namespace, read-only system dirs, a private
size-limited tmpfs, clear environment, die-with-parent, capabilities dropped) > ``unshare``
(network + pid + ipc + mount namespaces, private size-limited tmpfs on /tmp, /var/tmp, /dev/shm,
/run/lock; Landlock, where the kernel has it, keeps jobs off the rest of the host's files) > ``rlimits`` (resource limits, a separate uid and, where the kernel has it, Landlock;
a loud warning). Every backend also gets the per-job protections of ``_zygote.py`` (fresh process,
new session, rlimits, unprivileged uid when root, no-new-privileges, a seccomp filter on x86-64 that
denies namespace/mount/tracing/keyring/bpf/io_uring syscalls and every socket family but AF_UNIX
(outside bubblewrap: every ``socket()``), empty environment, wall-clock kill, output caps).
``BackendInfo.gaps`` says what each one does not isolate.

``LLM_MARL_SANDBOX=bwrap|unshare|rlimits`` forces a backend (for tests of the weaker ones).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import _zygote

BACKENDS = ("bwrap", "unshare", "rlimits")
ZYGOTE_PATH = Path(_zygote.__file__).resolve()
SANDBOX_DIR = "/sandbox"  # where bubblewrap shows the worker's three files inside the sandbox
SANDBOX_FILES = ("_zygote.py", "_child.py", "_seccomp.py", "_codec.py", "_checker.py")
WORK_TMPFS_BYTES = 256 * 1024 * 1024  # size of a bwrap worker's private /tmp
SCRUB_DIRS = "/tmp:/var/tmp:/dev/shm:/run/lock"  # host dirs a job's uid could write without bwrap; cleaned after each job
PRIVATE_DIRS = "/tmp:/dev/shm:/dev/mqueue"  # bwrap's own copies: emptied after each job (all but the work dir)
UNSHARE_PRIVATE_DIRS = "/tmp:/var/tmp:/dev/shm:/run/lock"  # unshare: a private tmpfs on each (/tmp sized as bwrap's)


@dataclass(frozen=True)
class BackendInfo:
    """The chosen backend and the probe results that led to it."""

    name: str
    reason: str
    probes: dict[str, str] = field(default_factory=dict)
    drops_uid: bool = False
    seccomp: bool = False
    private_pidns: bool = False
    network_isolated: bool = False
    filesystem_isolated: bool = False
    gaps: tuple[str, ...] = ()  # what this backend does NOT isolate, one plain sentence each

    @property
    def strength(self) -> int:
        return len(BACKENDS) - BACKENDS.index(self.name)


def python_executable() -> str:
    """The base interpreter (not a venv shim): the sandbox runs it with ``-I -S``."""
    exe = Path(sys.executable).resolve()
    base = Path(sys.base_prefix).resolve()
    candidate = base / "bin" / exe.name
    return str(candidate if candidate.exists() else exe)


def _ancestors(path: Path) -> list[Path]:
    parts = []
    for parent in reversed(path.parents):
        if str(parent) != "/":
            parts.append(parent)
    return parts


def _system_binds() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if Path(f).exists():
            args += ["--ro-bind", f, f]
    prefix = Path(sys.base_prefix).resolve()
    exe_dir = Path(python_executable()).resolve().parent
    for root in {prefix, exe_dir.parent}:
        if str(root).startswith("/usr/") or str(root) == "/usr":
            continue
        for anc in _ancestors(root):
            if not str(anc).startswith("/usr"):
                args += ["--perms", "0755", "--dir", str(anc)]
        args += ["--ro-bind", str(root), str(root)]
    return args


def stdlib_world_readable() -> bool:
    """Whether an unprivileged uid can import from this interpreter's stdlib (outside bubblewrap)."""
    import stat

    path = Path(sys.base_prefix).resolve() / "lib"
    for p in [*reversed(path.parents), path]:
        try:
            if not os.stat(p).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def new_child_uid() -> int:
    """A random high uid for one worker: its processes share nothing (NPROC, signals) with others."""
    return random.SystemRandom().randrange(1_000_000, 2_000_000_000)


def zygote_command(backend: str, *, uid: int | None, preload: bool, seccomp: str = "verify") -> list[str]:
    """The argv that starts one zygote under ``backend``. ``seccomp``: ``"verify"`` (test the filter
    in a throw-away child first; the probe does), ``"trusted"`` (install it: the probe verified it on
    this host) or ``"off"``."""
    py = python_executable()
    is_root = os.geteuid() == 0
    preload_opt = "1" if preload else "0"
    if backend != "bwrap" and uid is not None and not stdlib_world_readable():
        preload_opt = "full"  # the job's uid cannot read the stdlib later: import the usual modules up front
    opts = [f"uid={uid if uid is not None else 'none'}", f"preload={preload_opt}", f"seccomp={seccomp}"]
    if backend == "bwrap":
        bwrap = shutil.which("bwrap") or "bwrap"
        cmd = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv",
               "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8", "--setenv", "LD_BIND_NOW", "1"]
        if is_root:
            # Real root, no user namespace: the zygote keeps only the capabilities it needs to create job
            # dirs, switch to the job's uid and kill its leftovers; jobs run under another uid with none.
            cmd += ["--cap-drop", "ALL"]
            for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"):
                cmd += ["--cap-add", cap]
        else:
            cmd += ["--unshare-user"]
        cmd += _system_binds()
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "0711", "--size", str(WORK_TMPFS_BYTES), "--tmpfs", "/tmp",
                "--chdir", "/tmp"]
        for name in SANDBOX_FILES:
            cmd += ["--ro-bind", str(ZYGOTE_PATH.parent / name), f"{SANDBOX_DIR}/{name}"]
        cmd += [py, "-I", "-S", f"{SANDBOX_DIR}/_zygote.py", *opts, "pidns=1", "workroot=/tmp", "private_dev=1",
                f"empty={PRIVATE_DIRS}"]
        return cmd
    zygote = [py, "-I", "-S", str(ZYGOTE_PATH), *opts]
    if backend == "unshare":
        unshare = shutil.which("unshare") or "unshare"
        flags = ["--net", "--pid", "--ipc", "--fork", "--mount", "--mount-proc", "--kill-child"]
        if not is_root:
            # The user to itself, not to root: mapped to root, jobs would hold every capability inside
            # the namespace (enough to write /proc/<spawner>/mem and so forge every later job's result).
            flags = ["--map-current-user", *flags]
        # A private size-limited tmpfs on the host's shared dirs (in the worker's own mount namespace):
        # no host files or pathname sockets there, no writes reaching the host's disk or memory.
        host_ns = os.stat("/proc/self/ns/mnt").st_ino  # the zygote refuses to mount anything in this one
        expose = [f"expose={Path(sys.base_prefix).resolve()}"] if uid is not None and not stdlib_world_readable() else []
        return [unshare, *flags, *zygote, "pidns=1", "workroot=/tmp", f"private_tmp={UNSHARE_PRIVATE_DIRS}",
                f"host_mntns={host_ns}", *expose,
                f"tmp_bytes={WORK_TMPFS_BYTES}", f"empty={UNSHARE_PRIVATE_DIRS}", "sockets=none",
                # the host's file system is visible here: Landlock keeps jobs to the system dirs (no data
                # sets, no repo, no venv with its copies of the benchmarks' solutions)
                f"landlock={':'.join(landlock_readable())}"]
    if backend == "rlimits":
        return [*zygote, "pidns=0", f"workroot={_host_workroot()}", f"scrub={SCRUB_DIRS}", "sockets=none",
                f"landlock={':'.join(landlock_readable())}"]
    raise ValueError(f"unknown sandbox backend {backend!r}; choose from {BACKENDS}")


def landlock_readable() -> list[str]:
    """What a Landlock-confined job (rlimits) may read: system dirs, the interpreter's prefix and a few
    device files; plus (added by the job itself) its own /proc entry, /dev/null and its work dir."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/dev/urandom", "/dev/random",
             "/dev/zero", str(Path(sys.base_prefix).resolve()), str(Path(python_executable()).resolve().parent)]
    return [p for p in dict.fromkeys(paths) if ":" not in p and os.path.exists(p)]


def _host_workroot() -> str:
    """A fresh private folder for a worker outside bubblewrap (the parent removes it)."""
    import tempfile

    return tempfile.mkdtemp(prefix="llm-marl-sbx-")


def worker_env() -> dict[str, str]:
    """The worker's environment at start. ``LD_BIND_NOW``: symbols are resolved once in the worker,
    not again (with copy-on-write faults) in every forked job; the worker clears it for the jobs."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LD_BIND_NOW": "1"}


def _probe(backend: str) -> str | None:
    """Start a zygote under ``backend`` and run one tiny job; ``None`` when it works, else why not."""
    if backend == "bwrap" and not shutil.which("bwrap"):
        return "bwrap not found on PATH (apt-get install bubblewrap)"
    if backend == "unshare" and not shutil.which("unshare"):
        return "unshare not found on PATH"
    uid = new_child_uid() if os.geteuid() == 0 else None
    cmd = zygote_command(backend, uid=uid, preload=False)
    workroot = next((a.split("=", 1)[1] for a in cmd if a.startswith("workroot=")), None)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=worker_env(), start_new_session=True)
        job = {"id": 0, "mode": "run", "source": "import os\nprint('probe', os.getuid())", "timeout_s": 10,
               "memory_mb": 256, "cpu_s": 10, "fsize": 1 << 20, "nofile": 64, "nproc": 64, "out_cap": 4096}
        try:
            out, err = proc.communicate(_zygote.encode_job(job), timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return "probe timed out"
        if b"probe" not in out:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            return f"probe failed: {tail[0][:200]}"
        try:
            hello = json.loads(out[4 : 4 + int.from_bytes(out[:4], "big")])
            _SECCOMP_WORKS[backend] = bool(hello.get("seccomp"))
            _LANDLOCK_WORKS[backend] = bool(hello.get("landlock"))
            _STDLIB_EXPOSED[backend] = bool(hello.get("stdlib"))
        except (ValueError, TypeError):
            _SECCOMP_WORKS[backend] = False
            _LANDLOCK_WORKS[backend] = False
        return None
    except OSError as e:
        return f"could not start: {e}"
    finally:
        if workroot and backend == "rlimits":  # the others' work root lives in their private tmpfs
            shutil.rmtree(workroot, ignore_errors=True)


_LOCK = threading.Lock()
_CHOSEN: BackendInfo | None = None
_SECCOMP_WORKS: dict[str, bool] = {}  # backend -> whether its jobs got the syscall filter in the probe
_LANDLOCK_WORKS: dict[str, bool] = {}  # backend -> whether its jobs run under Landlock (unshare, rlimits)
_STDLIB_EXPOSED: dict[str, bool] = {}  # backend -> whether its worker made the stdlib readable to jobs (unshare)


def _describe(name: str, probes: dict[str, str]) -> BackendInfo:
    root = os.geteuid() == 0
    failed = "; ".join(f"{b}: {why}" for b, why in probes.items() if why != "ok")
    if name == "bwrap":
        reason = "bubblewrap works: pid/net/ipc/uts namespaces, read-only system, private tmpfs, clear env"
    elif name == "unshare":
        reason = "unshare works (network + pid namespaces); stronger backends unavailable"
    else:
        reason = "NO NAMESPACE ISOLATION: rlimits, a separate uid and wall-clock kill only"
    seccomp = _SECCOMP_WORKS.get(name, False)
    reason += "; seccomp filter on" if seccomp else "; NO seccomp filter (not x86-64 or prctl refused)"
    if name != "bwrap" and root and not stdlib_world_readable() and not _STDLIB_EXPOSED.get(name, False):
        reason += "; the job uid cannot read the stdlib, so only preloaded modules import"
    if name != "bwrap" and not root:
        reason += ("; NOT ROOT: jobs run under your own uid and can write whatever you can (and leftover "
                   "daemons outlive the worker under rlimits)")
    if failed:
        reason += f" ({failed})"
    return BackendInfo(
        name=name, reason=reason, probes=dict(probes), drops_uid=root, seccomp=seccomp,
        private_pidns=name in ("bwrap", "unshare"),
        # bwrap/unshare: a network namespace; rlimits: the filter denies every socket() (socketpair only)
        network_isolated=name in ("bwrap", "unshare") or seccomp,
        filesystem_isolated=name == "bwrap",
        gaps=backend_gaps(name, root=root, seccomp=seccomp,
                          stdlib_readable=stdlib_world_readable() or _STDLIB_EXPOSED.get(name, False),
                          landlock=_LANDLOCK_WORKS.get(name, False)),
    )


def backend_gaps(name: str, *, root: bool, seccomp: bool, stdlib_readable: bool, landlock: bool = False
                 ) -> tuple[str, ...]:
    """What a backend does not isolate (shown by ``llm-marl doctor`` and in ``BackendInfo.gaps``)."""
    gaps = ["memory is limited per process (RLIMIT_AS), not per job: a job of N processes may use N times "
            "memory_mb (no memory cgroup)"]
    if name == "bwrap":
        gaps.append("the worker's private /tmp (256 MiB tmpfs) is shared by its jobs one after another "
                    "(emptied after each job)")
    if name in ("unshare", "rlimits") and not landlock:
        gaps.append("the host's file system is visible (no Landlock in this kernel): jobs can read every "
                    "world-readable host file, the data sets' reference solutions included")
    if name == "unshare" and landlock:
        gaps.append("jobs can read the host's system dirs (/usr, /etc, /lib ...) and the interpreter's prefix: "
                    "Landlock hides every other host file (data sets, repositories, home dirs) and every dir "
                    "but the job's work dir from writes")
    if name in ("unshare", "rlimits"):
        if not seccomp:
            gaps.append("no seccomp filter: Unix sockets in world-writable host dirs (and, on rlimits, the "
                        "network and abstract Unix sockets) are reachable")
        else:
            gaps.append("socket() is denied outright (seccomp): programs that open Unix sockets fail "
                        "(socketpair and pipes work)")
        if not root:
            gaps.append("not root: jobs run under your own uid and can read and write whatever you can")
        elif not stdlib_readable:
            gaps.append("the job's uid cannot read this interpreter's stdlib: only the worker's preloaded "
                        "modules import")
    if name == "unshare" and not landlock:
        gaps.append("/tmp, /var/tmp, /dev/shm and /run/lock are private size-limited tmpfs copies; other "
                    "world-writable host dirs stay writable as the job's uid (removed after each job)")
    if name == "rlimits" and landlock:
        gaps += [
            "no namespaces; Landlock confines each job's file access instead: read-only system dirs and "
            "interpreter, its own /proc entry, its work dir (no other /proc entries, no /tmp, /var/tmp, "
            "/dev/shm); host processes are still listed in /proc (numbers only)",
            "the work dir is on the host's disk: writes there have no quota beyond RLIMIT_FSIZE per file "
            "(removed after each job)",
            "no pid namespace: a job's processes are found by its uid (and killed when the harness dies)",
        ]
    elif name == "rlimits":
        gaps += [
            "no namespaces and no Landlock: every host process is visible in /proc, command lines included",
            "the work dir, /tmp, /var/tmp and /dev/shm are the host's: writes there have no quota beyond "
            "RLIMIT_FSIZE per file (what the job's uid left is deleted after each job)",
            "no pid namespace: a job's processes are found by its uid (and killed when the harness dies)",
        ]
    return tuple(gaps)


def detect_backend(refresh: bool = False) -> BackendInfo:
    """Probe backends strongest first (cached per process) and return the one chosen.

    Raises ``RuntimeError`` when a backend forced via ``LLM_MARL_SANDBOX`` does not work.
    """
    global _CHOSEN
    with _LOCK:
        if _CHOSEN is not None and not refresh:
            return _CHOSEN
        forced = os.environ.get("LLM_MARL_SANDBOX", "").strip().lower()
        if forced and forced not in BACKENDS:
            raise RuntimeError(f"LLM_MARL_SANDBOX={forced!r}: choose one of {BACKENDS}")
        probes: dict[str, str] = {}
        for name in BACKENDS:
            if forced and name != forced:
                probes[name] = "skipped (LLM_MARL_SANDBOX)"
                continue
            why = _probe(name)
            probes[name] = why or "ok"
            if why is None:
                info = _describe(name, probes)
                if name == "rlimits":
                    warnings.warn(f"llm_marl_envs.sandbox: {info.reason}. Untrusted code can reach the network "
                                  "and the file system. Install bubblewrap.", RuntimeWarning, stacklevel=2)
                _CHOSEN = info
                return info
            if forced:
                raise RuntimeError(f"sandbox backend {forced!r} (LLM_MARL_SANDBOX) does not work: {why}")
        raise RuntimeError(f"no sandbox backend works: {probes}")
