"""``llm-marl serve``: our multi-agent envs over HTTP and WebSocket in the shape of OpenEnv.

Modules (each imports openenv-core / FastAPI only when it is imported; extra ``serve``):

| module | what |
|---|---|
| ``models`` | the wire types (``CollabAction``, ``CollabObservation``, ``CollabState``, reset parameters) and the multi-agent mapping |
| ``environment`` | ``CollabOpenEnv``: an OpenEnv ``Environment`` playing one of our AEC envs per session |
| ``app`` | ``build_app(...)``: the FastAPI app (OpenEnv's ``/ws``, ``/health``, ``/schema``, ``/metadata`` + stateful HTTP ``/reset``, ``/step``, ``/state``) |
| ``client`` | ``CollabEnvClient``: OpenEnv's ``EnvClient`` for it |
| ``cli`` | the ``llm-marl serve`` subcommand |
| ``errors`` | the request errors and their HTTP statuses (no web framework) |

``openenv.yaml`` beside this file describes the server to OpenEnv's tooling.
"""

DEFAULT_MAX_SESSIONS = 64
DEFAULT_IDLE_TIMEOUT_S = 300.0
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
