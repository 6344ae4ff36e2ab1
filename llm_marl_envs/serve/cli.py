"""``llm-marl serve [ENV_ID ...]``: serve envs over HTTP/WebSocket in the shape of OpenEnv (uvicorn)."""

from __future__ import annotations

import argparse
import sys

from . import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SESSIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_ids", nargs="*", metavar="ENV_ID", help="env ids to serve (default: every registered env)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                        help="most sessions at once, HTTP and WebSocket together; beyond: 503 (default %(default)s)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S, metavar="S",
                        help="close a session after S seconds without a request (default %(default)s)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="largest request body / WebSocket message; beyond: 413 (default %(default)s)")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .app import build_app
    except ModuleNotFoundError as e:
        print(f"llm-marl serve: needs the 'serve' extra ({e.name} is missing): pip install 'llm-marl-envs[serve]'", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    app = build_app(args.env_ids, max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout,
                    max_body_bytes=args.max_body_bytes)
    ids = app.state.env_ids
    print(f"llm-marl serve: {len(ids)} env(s) ({', '.join(ids)}) on http://{args.host}:{args.port} "
          f"(WebSocket /ws, HTTP /reset /step /state); max {args.max_sessions} sessions, "
          f"idle timeout {args.idle_timeout:g} s", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.log_level in ("info", "debug"),
                ws_max_size=args.max_body_bytes)
    return 0
