"""The seccomp filter every sandboxed job gets (x86-64; classic BPF built by hand, no libseccomp).

Denied with EPERM: namespace creation and entry, mounts, tracing, keyrings, bpf, io_uring, module
loading, kexec and friends, System V IPC and POSIX message queues, other processes' fds and memory
(``pidfd_getfd``, ``process_madvise``, ``kcmp``), and sockets of every family but AF_UNIX (no network
even on a backend without a network namespace; outside bubblewrap no ``socket()`` at all, see
``seccomp_program``); ``clone3`` answers ENOSYS so that libc falls back to ``clone``, whose
namespace flags are denied. A foreign architecture is killed. Standard library only.
"""

from __future__ import annotations

import os

# x86-64 syscalls a job never needs (kernel attack surface, other namespaces, tracing): EPERM.
DENIED_SYSCALLS = {
    "ptrace": 101, "personality": 135, "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "init_module": 175, "delete_module": 176, "lookup_dcookie": 212,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
    "perf_event_open": 298, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433,
    # System V IPC objects outlive the job (and, without an IPC namespace, the worker): a leak and a
    # channel between jobs. POSIX shared memory and semaphores (files in /dev/shm) stay available.
    "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67,
    "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semtimedop": 220,
    # POSIX message queues likewise live as long as the IPC namespace.
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245,
    # Reaching into other processes: another process's fds, memory advice, kernel-object comparison.
    "kcmp": 312, "pidfd_getfd": 438, "process_madvise": 440,
}
_NR_SOCKET, _NR_CLONE, _NR_CLONE3 = 41, 56, 435
_CLONE_NAMESPACES = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000


def seccomp_program(unix_sockets: bool = True) -> list[tuple[int, int, int, int]] | None:
    """The job filter as classic-BPF instructions (code, jt, jf, k); ``None`` off x86-64.

    Denies the syscalls above, sockets other than AF_UNIX (no network even without a network
    namespace; with ``unix_sockets=False`` every ``socket()``, since without a network namespace
    and a private file system an AF_UNIX socket reaches the host's abstract and pathname listeners;
    ``socketpair`` stays), ``clone`` with namespace flags, and answers ``clone3`` with ENOSYS so that
    libc falls back to the filtered ``clone``. Other architectures get no filter (reported)."""
    if os.uname().machine != "x86_64":
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys, kill = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38, 0x80000000
    denied = sorted(DENIED_SYSCALLS.values())
    head = [(ld, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    # Every jump goes forward. Layout (indices into ``body``):
    #   checks: x32, denied..., socket, clone, clone3 | RET_ALLOW | socket domain check (2) |
    #   clone flags check (2) | RET_ALLOW | RET_EPERM | RET_ENOSYS
    n_checks = 1 + len(denied) + 3
    idx_sock = n_checks + 1
    idx_clone = idx_sock + 2
    idx_allow2 = idx_clone + 2
    idx_eperm = idx_allow2 + 1
    idx_enosys = idx_eperm + 1
    targets = [idx_eperm] * (1 + len(denied)) + [idx_sock, idx_clone, idx_enosys]
    values = [0x40000000, *denied, _NR_SOCKET, _NR_CLONE, _NR_CLONE3]
    body: list[tuple[int, int, int, int]] = []
    for i, (target, value) in enumerate(zip(targets, values, strict=True)):
        body.append((jge if i == 0 else jeq, target - i - 1, 0, value))
    body.append((ret, 0, 0, allow))
    body.append((ld, 0, 0, 16))  # socket: args[0] (domain), low 32 bits; only AF_UNIX (1), or none (-1: no domain)
    body.append((jeq, idx_allow2 - (idx_sock + 1) - 1, idx_eperm - (idx_sock + 1) - 1, 1 if unix_sockets else 0xFFFFFFFF))
    body.append((ld, 0, 0, 16))  # clone: args[0] (flags), low 32 bits; no namespace flags
    body.append((jset, idx_eperm - (idx_clone + 1) - 1, idx_allow2 - (idx_clone + 1) - 1, _CLONE_NAMESPACES))
    body.append((ret, 0, 0, allow))
    body.append((ret, 0, 0, eperm))
    body.append((ret, 0, 0, enosys))
    assert len(body) == idx_enosys + 1
    return head + body


def load(libc, verify: bool = True, unix_sockets: bool = True) -> tuple | None:
    """Build the filter and (``verify``) check it in a throw-away child: ``(pointer to sock_fprog,
    keep-alive objects)`` for ``prctl(PR_SET_SECCOMP, ...)``, or ``None`` when unavailable.
    ``verify=False`` is for workers started after a probe verified the filter on this host."""
    prog = seccomp_program(unix_sockets)
    if prog is None or libc is None:
        return None
    import ctypes
    import struct

    for _code, jt, jf, _k in prog:
        if not (0 <= jt < 256 and 0 <= jf < 256):
            return None
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.addressof(buf))
    if not verify:
        return (ctypes.byref(fprog), (buf, fprog))
    pid = os.fork()
    if pid == 0:
        ok = libc.prctl(38, 1, 0, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0
        if ok:
            import socket

            for family in (socket.AF_INET,) if unix_sockets else (socket.AF_INET, socket.AF_UNIX):
                try:
                    socket.socket(family, socket.SOCK_STREAM)
                    ok = False
                except PermissionError:
                    pass
            socket.socketpair()  # AF_UNIX stays allowed
            child = os.fork()  # fork and threads still work (clone3 -> ENOSYS -> clone)
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            import threading

            t = threading.Thread(target=len, args=((),))
            t.start()
            t.join()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return (ctypes.byref(fprog), (buf, fprog))
    return None
