"""Ray start-up for the Ray executor and verifier pools: lazy import, fail-fast addresses, quiet logs.

``connect(address=None)`` starts Ray on this machine with its CPUs (``ray.init()``), or joins the
cluster at ``address`` (``"HEAD:6379"``, ``"auto"``, ``"ray://HEAD:10001"``); an address that does
not answer within ``timeout_s`` is one line (``RayAddressError``) instead of Ray's own minutes of
retries (checked: a TCP connection, then gRPC's HTTP/2 handshake, so a port where something else
listens is refused too). Ray is an optional extra: without it, ``require_ray()`` is one line naming
``pip install 'llm-marl-envs[ray]'``. Nothing here imports Ray at module import time.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from typing import Any

INSTALL_HINT = "pip install 'llm-marl-envs[ray]'"
DEFAULT_TIMEOUT_S = 5.0


class RayMissingError(ImportError, ValueError):
    """Ray is not installed (a ``ValueError`` too, so the CLI prints it as one line)."""


class RayAddressError(ConnectionError, ValueError):
    """A Ray cluster address that is malformed or does not answer (one line in the CLI)."""


def require_ray() -> Any:
    """Import and return the ``ray`` module, or raise ``RayMissingError`` naming the extra."""
    try:
        import ray
    except ImportError:
        raise RayMissingError(f"the Ray executor needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def cpus_per_actor(ray: Any, actors: int) -> float:
    """CPUs each of ``actors`` actors reserves: 1, or less when the cluster has fewer CPUs than
    actors (so that no actor waits for resources)."""
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return min(1.0, math.floor(100 * total / actors) / 100) or 0.01


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` / ``"ray://host:port"`` -> ``(host, port)``; Ray Client's default port is 10001."""
    rest = address.strip()
    client = rest.startswith("ray://")
    if client:
        rest = rest[len("ray://"):]
    host, sep, port = rest.rpartition(":")
    if not sep:
        host, port = rest, "10001" if client else "6379"
    host = host.strip("[]")  # [::1]:6379
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayAddressError(f"ray address {address!r} is not HOST:PORT (e.g. 10.0.0.1:6379)")
    return host, int(port)


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS
_H2_SETTINGS = 0x04


def check_address(address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Raise ``RayAddressError`` unless a gRPC server (Ray's GCS, or its client server for ``ray://``)
    answers at ``address`` within ``timeout_s``.

    Two steps, both bounded by ``timeout_s``: a TCP connection, then the HTTP/2 handshake gRPC speaks
    (our preface, the server's SETTINGS frame). The second step catches a port where something
    listens that is not Ray (``ray.init`` would otherwise retry it for minutes). With ``RAY_USE_TLS``
    set the GCS speaks TLS first, and only the TCP step is checked."""
    host, port = split_address(address)
    hint = (f"start the head with 'ray start --head --port {port}', or leave the address unset to run Ray "
            "on this machine")
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as e:
        reason = f"no answer within {timeout_s:g}s" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__).lower()
        raise RayAddressError(f"ray address {address!r} does not answer ({reason}): {hint}") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        header = b""
        try:
            sock.settimeout(timeout_s)
            sock.sendall(_H2_PREFACE)
            while len(header) < 9:
                chunk = sock.recv(9 - len(header))
                if not chunk:
                    break
                header += chunk
        except OSError:  # silent until the deadline, or reset
            pass
    if len(header) < 9 or header[3] != _H2_SETTINGS:
        raise RayAddressError(f"ray address {address!r} accepts connections but no Ray cluster answers there (no "
                              f"gRPC handshake within {timeout_s:g}s): {hint}")


def _token_auth_if_available() -> None:
    """Send this machine's Ray token (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN``) to an explicit address
    when ``RAY_AUTH_MODE`` is unset, as Ray does for a cluster it finds by itself: ``ray start --head``
    turns token authentication on whenever a token exists, and a driver without it is refused."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication import authentication_token_setup as auth
    except ImportError:  # a Ray without token authentication
        return
    log = logging.getLogger(auth.__name__)
    level = log.level
    log.setLevel(logging.ERROR)  # not Ray's "token authentication is enabled" warning on every run
    try:
        auth.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    except Exception:  # noqa: BLE001 - then Ray's own error says what is missing
        pass
    finally:
        log.setLevel(level)


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    quiet: bool = True,
) -> Any:
    """Make sure this process is connected to Ray and return the ``ray`` module.

    ``address=None`` (and no ``RAY_ADDRESS`` in the environment) starts a private Ray on this
    machine with ``num_cpus`` (default: all of its CPUs); otherwise joins the running cluster at
    ``address`` after checking within ``timeout_s`` that it answers (with this machine's Ray
    token, if it has one and ``RAY_AUTH_MODE`` is unset). Already connected: reused
    as is, unless ``address`` names another cluster (``RayAddressError``). ``quiet`` keeps Ray's logs to errors and does not forward actors' stdout/stderr.
    """
    ray = require_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address not in (None, "local", "auto") and not address.startswith("ray://") \
                and split_address(address)[1] != split_address(current)[1]:
            raise RayAddressError(f"ray address {address!r}: this process is already connected to the Ray "
                                  f"cluster at {current}; call ray.shutdown() first")
        return ray
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR if quiet else logging.INFO,
                              "log_to_driver": not quiet, "configure_logging": True}
    if address is None or address == "local":
        kwargs.update(include_dashboard=False, num_cpus=num_cpus or os.cpu_count() or 1)
        if object_store_memory:
            kwargs["object_store_memory"] = int(object_store_memory)
        address = None
    elif address != "auto":
        check_address(address, timeout_s)
        _token_auth_if_available()
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:  # "auto" with no running cluster, or a port that is not Ray's
        raise RayAddressError(f"ray address {address!r}: {str(e).splitlines()[0]}") from None
    return ray
