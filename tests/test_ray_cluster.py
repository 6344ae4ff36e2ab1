"""``ray_cluster.connect`` and ``check_address``: an address where no Ray answers is one line within seconds
(nothing listening, or something listening that is not Ray), and a real Ray's address passes the check."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")

# connect() runs in a fresh interpreter: this test process may already be connected to another test's Ray
_CONNECT = textwrap.dedent("""
    import json, sys, time
    from llm_marl_envs.rollout.ray_cluster import RayAddressError, connect
    out = {}
    for address in sys.argv[1:]:
        start = time.perf_counter()
        try:
            connect(address, timeout_s=1.0)
            out[address] = {"error": None}
        except RayAddressError as e:
            out[address] = {"error": str(e), "s": time.perf_counter() - start}
        import ray
        out[address]["initialized"] = ray.is_initialized()
    print(json.dumps(out))
""")


def test_connect_to_an_address_where_no_ray_answers_is_one_line_and_fast():
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    with socket.socket() as silent:  # listens, accepts, never speaks gRPC (ray.init retried it for minutes)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_port = silent.getsockname()[1]
        addresses = [f"127.0.0.1:{closed_port}", f"127.0.0.1:{silent_port}"]
        proc = subprocess.run([sys.executable, "-c", _CONNECT, *addresses], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for address, port in zip(addresses, (closed_port, silent_port), strict=True):
        result = out[address]
        assert result["error"] is not None and "\n" not in result["error"] and str(port) in result["error"]
        assert result["s"] < 5 and result["initialized"] is False
    assert "does not answer (connection refused)" in out[addresses[0]]["error"]
    assert "no Ray cluster answers there" in out[addresses[1]]["error"]


def test_an_http_server_is_not_taken_for_ray():
    """Something that answers, but not with gRPC's handshake (here an HTTP/1 server), is refused."""
    import http.server
    import threading

    from llm_marl_envs.rollout.ray_cluster import RayAddressError, check_address

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(RayAddressError, match="no Ray cluster answers there"):
            check_address(f"127.0.0.1:{server.server_address[1]}", timeout_s=2.0)
    finally:
        server.shutdown()
        server.server_close()


def test_a_real_ray_address_passes_the_check():
    """The handshake check accepts Ray's own GCS (a private one-node Ray in a fresh interpreter)."""
    script = textwrap.dedent("""
        import ray
        from llm_marl_envs.rollout.ray_cluster import check_address
        ray.init(num_cpus=1, include_dashboard=False, object_store_memory=80 * 1024**2, log_to_driver=False)
        try:
            host, port = ray.get_runtime_context().gcs_address.rsplit(":", 1)
            check_address(f"{host}:{port}", timeout_s=5.0)
            check_address(f"127.0.0.1:{port}", timeout_s=5.0)
            print("ok")
        finally:
            ray.shutdown()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "ok", proc.stderr[-3000:]
