"""The FastAPI app: OpenEnv's server machinery plus stateful HTTP sessions for multi-step episodes.

What comes from OpenEnv (``openenv.core.env_server.HTTPEnvServer``, registered in its
``production`` mode): the WebSocket ``/ws`` (one session per connection; what OpenEnv's
``EnvClient`` and our ``CollabEnvClient`` speak), ``/health``, ``/metadata``, ``/schema``,
``/mcp``, its session table and ``--max-sessions`` capacity.

What we add, and why:

* **Stateful HTTP** ``POST /reset``, ``POST /step``, ``GET /state`` (+ ``POST /close``,
  ``GET /sessions``, ``GET /envs``). OpenEnv's own HTTP ``/reset`` and ``/step`` build a fresh env
  per request and close it after, so an episode of several turns cannot be played over them; ours
  keep a session (``session_id`` in the reply of ``/reset``, sent back with every ``/step``) in
  OpenEnv's own session table, so WebSocket and HTTP sessions share one capacity and one reaper.
  Request and reply bodies keep OpenEnv's shape (``{"observation", "reward", "done"}``).
* **Errors as 4xx with one line** (``{"detail": "..."}``): FastAPI's 422 lists every pydantic
  error; OpenEnv's stateless routes answer an env exception with a 500. Bad values 422, unknown
  env/session 404, an action out of turn or after the end 409, a closed or reaped session 410, a
  too-large body 413, no free session 503 (with ``Retry-After``).
* **Our own idle reaper.** OpenEnv's polls at most every 5 s and leaves a reaped WebSocket session's
  loop holding the closed env; ours polls at a quarter of the timeout and marks the env expired, so
  the connection's next message gets "session expired" and a reaped HTTP session answers 410.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from openenv.core.env_server.exceptions import SessionCapacityError
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.serialization import serialize_observation
from openenv.core.env_server.types import ConcurrencyConfig
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.websockets import WebSocketDisconnect

from .. import __version__
from . import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SESSIONS
from .environment import CollabOpenEnv, resolve_env_ids
from .errors import AtCapacity, BadRequest, Conflict, Gone, NotFound, ServeError, TooLarge
from .models import MAX_ID_CHARS, CollabAction, CollabObservation

log = logging.getLogger("llm_marl_envs.serve")

API_VERSION = "1.0.0"  # the OpenEnv HTTP API profile we implement (openenv validate reads it)
_GONE_MEMORY = 10_000  # closed/reaped session ids remembered (410 instead of 404)


class StepBody(BaseModel):
    """``POST /step``: OpenEnv's ``StepRequest`` plus the session."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(..., max_length=MAX_ID_CHARS)
    action: dict[str, Any]
    timeout_s: float | None = Field(default=None, gt=0)
    request_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)


class SessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(..., max_length=MAX_ID_CHARS)


class Sessions:
    """HTTP sessions in OpenEnv's session table (``HTTPEnvServer``), and the idle reaper.

    The only place that touches ``HTTPEnvServer``'s session internals (openenv-core 0.3).
    """

    def __init__(self, server: HTTPEnvServer, max_sessions: int, idle_timeout_s: float | None) -> None:
        self.server = server
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self._gone: OrderedDict[str, str] = OrderedDict()
        self._task: asyncio.Task | None = None

    @property
    def active(self) -> int:
        return len(self.server._sessions)

    async def create(self) -> tuple[str, CollabOpenEnv]:
        await self.reap()
        try:
            return await self.server._create_session()
        except SessionCapacityError:
            raise AtCapacity(
                f"server at capacity: {self.active} of {self.max_sessions} sessions in use "
                "(--max-sessions); close one (POST /close) or retry later"
            ) from None

    def get(self, session_id: str) -> CollabOpenEnv:
        env = self.server._sessions.get(session_id, _MISSING)
        if env is _MISSING:
            if session_id in self._gone:
                raise Gone(f"session {session_id!r} {self._gone[session_id]}; reset without session_id for a new one")
            raise NotFound(f"unknown session {session_id!r}")
        if env is None:
            raise Conflict(f"session {session_id!r} is still starting; retry")
        if self._idle_for(session_id) > (self.idle_timeout_s or float("inf")):
            raise Gone(f"session {session_id!r} expired after {self.idle_timeout_s:g} s idle")
        return env

    async def run(self, session_id: str, fn: Any, *args: Any, step: bool = False, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in the session's own thread (OpenEnv's per-session executor)."""
        self.server._update_session_activity(session_id)
        try:
            return await self.server._run_in_session_executor(session_id, fn, *args, **kwargs)
        finally:
            self.server._update_session_activity(session_id, increment_step=step)

    async def close(self, session_id: str, reason: str) -> None:
        env = self.server._sessions.get(session_id)
        if isinstance(env, CollabOpenEnv):
            env.expire(reason)
        self._remember(session_id, reason)
        await self.server._destroy_session(session_id)

    def _remember(self, session_id: str, reason: str) -> None:
        self._gone[session_id] = reason
        while len(self._gone) > _GONE_MEMORY:
            self._gone.popitem(last=False)

    def _idle_for(self, session_id: str) -> float:
        info = self.server._session_info.get(session_id)
        return 0.0 if info is None else time.time() - info.last_activity_at

    async def reap(self) -> int:
        """Close every session idle longer than the timeout; how many were closed."""
        if self.idle_timeout_s is None:
            return 0
        stale = [sid for sid in list(self.server._session_info) if self._idle_for(sid) > self.idle_timeout_s]
        for sid in stale:
            await self.close(sid, f"expired after {self.idle_timeout_s:g} s idle")
        return len(stale)

    async def _reaper(self) -> None:
        interval = min(max(self.idle_timeout_s / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap()
            except Exception as e:  # never let the reaper die
                log.warning("idle-session reaper: %s", e)

    def start(self) -> None:
        if self.idle_timeout_s is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._reaper())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


_MISSING = object()


class _QuietWebSocketClose:
    """Swallow the ``WebSocketDisconnect`` that OpenEnv 0.3's ``/ws`` handler raises after every
    client close: it closes the already-closed socket and catches only ``RuntimeError`` (the session
    is destroyed before that, so nothing is lost; without this each disconnect logs a traceback)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        with contextlib.suppress(WebSocketDisconnect):
            await self.app(scope, receive, send)


def _reply(observation: CollabObservation, session_id: str) -> dict[str, Any]:
    return {**serialize_observation(observation), "session_id": session_id}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": " ".join(message.split())}, status_code=status, headers=headers)


def build_app(
    env_ids: Sequence[str] | None = None,
    *,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The server app for ``env_ids`` (default: every registered env); see the module docstring."""
    if max_sessions < 1:
        raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
    if idle_timeout_s is not None and idle_timeout_s <= 0:
        raise ValueError(f"idle_timeout_s must be > 0 or None, got {idle_timeout_s}")
    if max_body_bytes < 1024:
        raise ValueError(f"max_body_bytes must be >= 1024, got {max_body_bytes}")
    ids = resolve_env_ids(env_ids)
    factory = functools.partial(CollabOpenEnv, ids)
    server = HTTPEnvServer(
        factory, CollabAction, CollabObservation,
        concurrency_config=ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=None),
    )
    sessions = Sessions(server, max_sessions, idle_timeout_s)
    app = FastAPI(
        title="llm-marl-envs env server (OpenEnv)",
        version=API_VERSION,
        description=f"llm-marl-envs {__version__}: multi-agent LLM envs over OpenEnv's HTTP/WebSocket API. "
        "Served: " + ", ".join(ids),
    )
    app.state.sessions = sessions
    app.state.env_ids = ids
    app.state.max_body_bytes = max_body_bytes
    server.register_routes(app, mode="production")  # /ws, /health, /metadata, /schema, /mcp
    app.router.on_startup.append(sessions.start)
    app.router.on_shutdown.append(sessions.stop)

    # Bodies that stream past the limit: Starlette's limiter (413 "Content Too Large"); a declared
    # Content-Length over it: the middleware below, whose message names the limit (it runs first).
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=max_body_bytes)
    app.add_middleware(_QuietWebSocketClose)

    @app.middleware("http")
    async def _declared_size(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return _error(TooLarge.status, f"request body of {length} bytes is over the server's limit of {max_body_bytes} bytes")
        return await call_next(request)

    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError) -> JSONResponse:
        headers = {"Retry-After": "1"} if isinstance(exc, AtCapacity) else None
        return _error(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return _error(422, f"{request.url.path}: body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})")
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        msg = "unknown field" if first.get("type") == "extra_forbidden" else first.get("msg", "invalid")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return _error(422, f"{request.url.path}: {loc}: {msg}{more}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:  # a bug, not a bad request
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.post("/reset", tags=["Environment Control"], summary="Start an episode (in a new session, or in session_id's)")
    async def reset(body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        params = dict(body or {})
        session_id = params.pop("session_id", None)
        if session_id is not None and not isinstance(session_id, str):
            raise BadRequest("reset: session_id: must be a string")
        created = session_id is None
        if created:
            session_id, env = await sessions.create()
        else:
            env = sessions.get(session_id)
        try:
            observation = await sessions.run(session_id, env.reset, **params)
        except Exception:
            if created:  # a new session whose first reset failed is not kept
                await sessions.server._destroy_session(session_id)
            raise
        return _reply(observation, session_id)

    @app.post("/step", tags=["Environment Control"], summary="Apply one agent's action")
    async def step(body: StepBody) -> dict[str, Any]:
        env = sessions.get(body.session_id)
        observation = await sessions.run(body.session_id, env.step, body.action, timeout_s=body.timeout_s, step=True)
        return _reply(observation, body.session_id)

    @app.get("/state", tags=["State Management"], summary="The session's episode state")
    async def state(session_id: str) -> dict[str, Any]:
        env = sessions.get(session_id)
        result = await sessions.run(session_id, lambda: env.state)
        return result.model_dump()

    @app.post("/close", tags=["Environment Control"], summary="End a session and free its slot")
    async def close(body: SessionBody) -> dict[str, Any]:
        sessions.get(body.session_id)
        await sessions.close(body.session_id, "was closed by the client")
        return {"session_id": body.session_id, "closed": True}

    @app.get("/sessions", tags=["Health"], summary="Session counts and limits")
    async def session_counts() -> dict[str, Any]:
        return {"active_sessions": sessions.active, "max_sessions": max_sessions, "idle_timeout_s": idle_timeout_s}

    @app.get("/envs", tags=["Environment Info"], summary="The served env ids with their agents")
    async def envs() -> list[dict[str, Any]]:
        return _env_cards(tuple(ids))

    return app


@functools.lru_cache(maxsize=8)
def _env_cards(ids: tuple[str, ...]) -> list[dict[str, Any]]:
    from ..envs.registration import env_spec, make_raw

    cards = []
    for env_id in ids:
        env = make_raw(env_id)
        cards.append({"id": env_id, "description": env_spec(env_id).description, "agents": list(env.possible_agents)})
    return cards


def app_from_environment() -> FastAPI:
    """The app configured from ``LLM_MARL_SERVE_ENVS`` (comma-separated ids; default all),
    ``LLM_MARL_SERVE_MAX_SESSIONS`` and ``LLM_MARL_SERVE_IDLE_TIMEOUT`` (seconds): what
    ``uvicorn llm_marl_envs.serve.app:app`` (``openenv.yaml``'s ``app``) serves."""
    ids = [i for i in os.environ.get("LLM_MARL_SERVE_ENVS", "").split(",") if i.strip()]
    return build_app(
        [i.strip() for i in ids],
        max_sessions=int(os.environ.get("LLM_MARL_SERVE_MAX_SESSIONS", DEFAULT_MAX_SESSIONS)),
        idle_timeout_s=float(os.environ.get("LLM_MARL_SERVE_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT_S)),
    )


def __getattr__(name: str) -> Any:  # ``app`` is built on first access (uvicorn's "module:app")
    if name == "app":
        value = globals()["app"] = app_from_environment()
        return value
    raise AttributeError(name)


__all__ = ["API_VERSION", "Sessions", "app_from_environment", "build_app"]
