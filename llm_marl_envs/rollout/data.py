"""What the rollout runner returns: episodes and rollout trees as plain, JSON-able dataclasses.

Field names here are a contract for the learners (``algorithms.batch``); they do not change
without a changelog entry.

- ``MessageRecord``: one generated message (= one decision): who wrote it, the exact context it
  was written in (``context`` = the rendered chat, ``conversation`` = the chat the policy got), and
  the ``Generation`` (token ids, behaviour log-probs, prompt token ids, finish reason).
- ``Episode``: one played task: its messages in order, the verdict and reward of the team answer,
  counterfactual rewards (voting topologies), ablated agents, and ids (``episode_id``,
  ``group_id``: the episodes sampled together for one task, ``sample_index`` within the group).
- ``TreeNode`` / ``RolloutTree``: a C3 rollout tree grown from a frozen prefix. The root holds no
  message (its context is the prefix); each other node is one message; the children of a node are
  siblings sampled from the byte-identical context; a leaf ends the task and has a reward; a
  node's ``value`` is the mean reward of the leaves below it. The leaves' full episodes are in
  ``RolloutTree.episodes`` (``Episode.leaf_id`` names the leaf).
- ``RunStats``: what a run spent.

``save_jsonl`` / ``load_jsonl`` write and read any mix of these (one object per line, tagged
with ``"type"``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..policy import Generation
from ..types import Message, Task, Verdict


@dataclass(frozen=True, eq=False)
class _RecordMessage(Message):
    """The ``Message`` a ``MessageRecord`` holds: equal to (and hashed like) the plain ``Message``
    with the same fields. It exists only so that the old call ``record.message()`` (from when
    ``message`` was a method) still works, with a ``DeprecationWarning``; drop it with that call."""

    def __call__(self) -> Message:
        warnings.warn("MessageRecord.message is a property: write record.message, not record.message()",
                      DeprecationWarning, stacklevel=2)
        return Message(self.agent, self.role, self.content, self.turn, self.context)

    def _key(self) -> tuple[str, str, str, int, str]:
        return (self.agent, self.role, self.content, self.turn, self.context)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Message):
            return self._key() == (other.agent, other.role, other.content, other.turn, other.context)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())


class _MessageField:
    """A ``MessageRecord`` attribute that reads ``record.message.<name>``; setting it replaces the
    (frozen) message with one that has the new value."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, record: Any, owner: type | None = None) -> Any:
        return self if record is None else getattr(record.message, self.name)

    def __set__(self, record: Any, value: Any) -> None:
        record.message = replace(record.message, **{self.name: value})


@dataclass(init=False)
class MessageRecord:
    """One message of an episode (one decision): the ``Message`` itself and how it was made.

    Built around ``llm_marl_envs.types.Message`` (``record.message``); ``agent``, ``role``,
    ``content``, ``turn`` and ``context`` read through to it (setting one replaces the message). Construct from a message with
    ``MessageRecord.of(message, stage, ...)``; the flat constructor below (the JSON fields) is kept.

    Attributes:
        message: the env's ``Message`` (what ``reset(options={"prefix": [r.message for r in records]})`` replays).
        agent: the agent name, e.g. ``"thinker_0"``.
        role: its role, e.g. ``"thinker"``.
        content: the message text as the env recorded it (the generated text, cut at the env's
            ``max_message_chars``).
        turn: decision index within the task (0-based, in acting order).
        stage: the schedule stage it was written in (agents of one stage act simultaneously).
        context: the exact rendered context (``system + "\\n\\n" + user``): byte-identical for C3
            siblings; ``Message.context``.
        conversation: the chat the policy received, ``[{"role": "system", ...}, {"role": "user", ...}]``.
        generation: the policy's ``Generation`` (``None`` for replayed prefix messages).
        node_id: the tree node of this message (``None`` outside trees).
        parent_id: the tree node it was generated under (``None`` outside trees).
    """

    message: Message
    stage: int
    conversation: list[dict[str, str]]
    generation: Generation | None
    node_id: str | None
    parent_id: str | None

    def __init__(
        self,
        agent: str,
        role: str,
        content: str,
        turn: int,
        stage: int,
        context: str,
        conversation: list[dict[str, str]] | None = None,
        generation: Generation | None = None,
        node_id: str | None = None,
        parent_id: str | None = None,
    ) -> None:
        self._set(_RecordMessage(agent, role, content, turn, context), stage, conversation, generation, node_id, parent_id)

    def _set(self, message: Message, stage: int, conversation: list[dict[str, str]] | None,
             generation: Generation | None, node_id: str | None, parent_id: str | None) -> None:
        self.message = message
        self.stage = stage
        self.conversation = [] if conversation is None else conversation
        self.generation = generation
        self.node_id = node_id
        self.parent_id = parent_id

    @classmethod
    def of(
        cls,
        message: Message,
        stage: int,
        conversation: list[dict[str, str]] | None = None,
        generation: Generation | None = None,
        node_id: str | None = None,
        parent_id: str | None = None,
    ) -> MessageRecord:
        """The record of ``message`` (the one way a record is made from a ``Message``)."""
        record = cls.__new__(cls)
        if type(message) is not _RecordMessage:
            message = _RecordMessage(message.agent, message.role, message.content, message.turn, message.context)
        record._set(message, stage, conversation, generation, node_id, parent_id)
        return record

    # the Message's fields, read through to it (setting one replaces the message)
    agent = _MessageField()
    role = _MessageField()
    content = _MessageField()
    turn = _MessageField()
    context = _MessageField()

    @property
    def token_ids(self) -> list[int]:
        """Generated token ids (empty when unknown)."""
        return [] if self.generation is None else list(self.generation.token_ids)

    @property
    def logprobs(self) -> list[float] | None:
        """Behaviour log-probs of ``token_ids`` (``None`` when the backend gives none)."""
        return None if self.generation is None else self.generation.logprobs

    @property
    def prompt_token_ids(self) -> list[int] | None:
        return None if self.generation is None else self.generation.prompt_token_ids

    @property
    def truncated(self) -> bool:
        """Whether generation stopped at the token limit."""
        return self.generation is not None and self.generation.finish_reason == "length"

    def to_dict(self) -> dict[str, Any]:
        m = self.message
        return {
            "agent": m.agent,
            "role": m.role,
            "content": m.content,
            "turn": m.turn,
            "stage": self.stage,
            "context": m.context,
            "conversation": [dict(c) for c in self.conversation],
            "generation": None if self.generation is None else self.generation.to_dict(),
            "node_id": self.node_id,
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MessageRecord:
        d = dict(d)
        gen = d.get("generation")
        d["generation"] = None if gen is None else Generation.from_dict(gen)
        return cls(**d)


@dataclass
class Episode:
    """One played task (a joint episode, an ablated one, or a path of a rollout tree).

    Attributes:
        episode_id: unique id, ``"<group_id>/<sample_index>"`` (trees: ``"<tree_id>/<leaf node>"``).
        group_id: the episodes sampled together for one task in one call (GRPO's group).
        task: the task played.
        env_id: the env id or name it was played in.
        messages: every message in order (replayed prefix messages first, with ``generation=None``).
        reward: the team reward (verifier score of the team answer), given to every agent.
        verdict: the verifier's verdict on the team answer.
        team_answer: ``{"agent", "text", "key", "rule", "votes"}`` (see ``topologies.TeamAnswer``).
        counterfactual_rewards: voting topologies: {agent: team reward with that agent's vote
            removed}; ``None`` otherwise.
        ablated: agents removed from this episode (CCPO's solo counterfactual: ``["thinker_0"]``).
        sample_index: index ``k`` within the group (CCPO pairs joint ``k`` with ablated ``k``).
        seed: the env seed of the episode (``None`` when the task was given explicitly and no seed).
        prefix_len: how many leading ``messages`` were replayed rather than generated.
        leaf_id: for tree episodes, the leaf node id.
        metadata: free-form extras.
        policy_version: the version of the policy that generated it (the largest ``version``
            attribute of the run's policies when the run started; 0 when they have none). A
            trainer bumps its policy's ``version`` after every optimiser step, so off-policy
            (stale) episodes can be told apart.
    """

    episode_id: str
    group_id: str
    task: Task
    env_id: str
    messages: list[MessageRecord]
    reward: float
    verdict: Verdict
    team_answer: dict[str, Any] = field(default_factory=dict)
    counterfactual_rewards: dict[str, float] | None = None
    ablated: list[str] = field(default_factory=list)
    sample_index: int = 0
    seed: int | None = None
    prefix_len: int = 0
    leaf_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    policy_version: int = 0

    @property
    def task_id(self) -> str:
        return self.task.id

    @property
    def generated(self) -> list[MessageRecord]:
        """The messages generated in this episode (replayed prefix excluded)."""
        return self.messages[self.prefix_len :]

    @property
    def generated_tokens(self) -> int:
        return sum(len(m.token_ids) for m in self.generated)

    def to_dict(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "group_id": self.group_id,
            "task": self.task.to_dict(),
            "env_id": self.env_id,
            "messages": [m.to_dict() for m in self.messages],
            "reward": self.reward,
            "verdict": self.verdict.to_dict(),
            "team_answer": dict(self.team_answer),
            "counterfactual_rewards": None if self.counterfactual_rewards is None else dict(self.counterfactual_rewards),
            "ablated": list(self.ablated),
            "sample_index": self.sample_index,
            "seed": self.seed,
            "prefix_len": self.prefix_len,
            "leaf_id": self.leaf_id,
            "metadata": dict(self.metadata),
            "policy_version": self.policy_version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        return cls(
            episode_id=d["episode_id"],
            group_id=d["group_id"],
            task=Task.from_dict(d["task"]),
            env_id=d["env_id"],
            messages=[MessageRecord.from_dict(m) for m in d["messages"]],
            reward=float(d["reward"]),
            verdict=Verdict.from_dict(d["verdict"]),
            team_answer=dict(d.get("team_answer") or {}),
            counterfactual_rewards=d.get("counterfactual_rewards"),
            ablated=list(d.get("ablated") or []),
            sample_index=int(d.get("sample_index", 0)),
            seed=d.get("seed"),
            prefix_len=int(d.get("prefix_len", 0)),
            leaf_id=d.get("leaf_id"),
            metadata=dict(d.get("metadata") or {}),
            policy_version=int(d.get("policy_version", 0)),
        )


@dataclass
class TreeNode:
    """One node of a rollout tree.

    Attributes:
        node_id: ``"root"`` for the root, else the path of child indices, e.g. ``"root.1.3"``.
        parent_id: the parent node (``None`` for the root).
        depth: 0 for the root, 1 for the first generated decision, ...
        message: the message of this node (``None`` for the root).
        children: child node ids; the children are siblings sampled at one byte-identical context.
        value: mean leaf reward of this node's subtree (a leaf's own reward).
        reward: the team reward, for leaves only (``None`` for inner nodes).
        verdict: the verdict of the team answer, for leaves only.
    """

    node_id: str
    parent_id: str | None
    depth: int
    message: MessageRecord | None = None
    children: list[str] = field(default_factory=list)
    value: float = 0.0
    reward: float | None = None
    verdict: Verdict | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "parent_id": self.parent_id,
            "depth": self.depth,
            "message": None if self.message is None else self.message.to_dict(),
            "children": list(self.children),
            "value": self.value,
            "reward": self.reward,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeNode:
        return cls(
            node_id=d["node_id"],
            parent_id=d.get("parent_id"),
            depth=int(d["depth"]),
            message=None if d.get("message") is None else MessageRecord.from_dict(d["message"]),
            children=list(d.get("children") or []),
            value=float(d.get("value", 0.0)),
            reward=d.get("reward"),
            verdict=None if d.get("verdict") is None else Verdict.from_dict(d["verdict"]),
        )


@dataclass
class RolloutTree:
    """A C3 rollout tree for one task, grown from a frozen prefix.

    Attributes:
        tree_id: unique id (prefix of its episodes' ids).
        task: the task.
        env_id: the env it was played in.
        fanout: children per level, e.g. ``[2, 4]`` (levels past the list get 1 child).
        prefix: the replayed messages the root stands after (may be empty).
        nodes: every node by id, parents before children (``nodes["root"]`` is the root).
        episodes: one ``Episode`` per leaf, in leaf order (``leaf_id`` links them).
        evaluator_calls: terminal verifier calls spent (= number of leaves).
        generated_tokens: tokens generated for the tree.
    """

    tree_id: str
    task: Task
    env_id: str
    fanout: list[int]
    prefix: list[MessageRecord]
    nodes: dict[str, TreeNode]
    episodes: list[Episode]
    evaluator_calls: int = 0
    generated_tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> TreeNode:
        return self.nodes["root"]

    def children(self, node_id: str) -> list[TreeNode]:
        """The child nodes of ``node_id`` (a sibling group)."""
        return [self.nodes[c] for c in self.nodes[node_id].children]

    def sibling_groups(self) -> list[list[TreeNode]]:
        """Every group of siblings (children of one node), parents first."""
        return [self.children(n.node_id) for n in self.nodes.values() if n.children]

    def leaves(self) -> list[TreeNode]:
        return [n for n in self.nodes.values() if n.is_leaf and n.node_id != "root"]

    def path(self, node_id: str) -> list[TreeNode]:
        """The nodes from the first generated decision down to ``node_id`` (root excluded)."""
        out = []
        node = self.nodes[node_id]
        while node.parent_id is not None:
            out.append(node)
            node = self.nodes[node.parent_id]
        return out[::-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_id": self.tree_id,
            "task": self.task.to_dict(),
            "env_id": self.env_id,
            "fanout": list(self.fanout),
            "prefix": [m.to_dict() for m in self.prefix],
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "episodes": [e.to_dict() for e in self.episodes],
            "evaluator_calls": self.evaluator_calls,
            "generated_tokens": self.generated_tokens,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutTree:
        nodes = [TreeNode.from_dict(n) for n in d["nodes"]]
        return cls(
            tree_id=d["tree_id"],
            task=Task.from_dict(d["task"]),
            env_id=d["env_id"],
            fanout=list(d["fanout"]),
            prefix=[MessageRecord.from_dict(m) for m in d.get("prefix") or []],
            nodes={n.node_id: n for n in nodes},
            episodes=[Episode.from_dict(e) for e in d.get("episodes") or []],
            evaluator_calls=int(d.get("evaluator_calls", 0)),
            generated_tokens=int(d.get("generated_tokens", 0)),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass
class RunStats:
    """What a run spent.

    Attributes:
        episodes: episodes finished (tree leaves included).
        evaluator_calls: terminal evaluations: one per finished episode (the matched-budget unit).
        verifier_calls: actual verifier invocations (counterfactual re-votes included, cache hits
            and answers with an already-verified key excluded).
        generate_calls: ``generate`` calls made (one per policy, sampling params and step).
        prompts: conversations sent to policies.
        generated_tokens: generated tokens (backends that report ``token_ids``).
        generated_chars: generated characters.
        wall_s: wall-clock seconds of the run; generate_s: of which inside ``generate``;
            verify_s: inside batched verification.
    """

    episodes: int = 0
    evaluator_calls: int = 0
    verifier_calls: int = 0
    generate_calls: int = 0
    prompts: int = 0
    generated_tokens: int = 0
    generated_chars: int = 0
    wall_s: float = 0.0
    generate_s: float = 0.0
    verify_s: float = 0.0

    def add(self, other: RunStats) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)

    @property
    def overhead_share(self) -> float:
        """Share of wall time spent outside ``generate`` (env stepping, rendering, verifying)."""
        return 0.0 if self.wall_s <= 0 else max(0.0, self.wall_s - self.generate_s) / self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overhead_share": self.overhead_share}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunStats:
        return cls(**{k: v for k, v in d.items() if k != "overhead_share"})


_TYPES = {"episode": Episode, "tree": RolloutTree, "stats": RunStats}


def _tag(obj: Any) -> str:
    for name, cls in _TYPES.items():
        if isinstance(obj, cls):
            return name
    raise TypeError(f"cannot save {type(obj).__name__}; expected Episode, RolloutTree or RunStats")


def _json_line(item: Episode | RolloutTree | RunStats) -> str:
    d = {"type": _tag(item), **item.to_dict()}
    text = json.dumps(d, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (model output can hold one): \udXXX escapes load back exactly
        text = json.dumps(d, ensure_ascii=True)
    return text + "\n"


def save_jsonl(items: Iterable[Episode | RolloutTree | RunStats], path: str | Path, *, append: bool = False) -> int:
    """Write ``items`` to ``path``, one JSON object per line tagged with ``"type"``; return the count.

    Every line is serialised before anything is written: a failure leaves the file as it was."""
    lines = [_json_line(item) for item in items]
    path = Path(path)
    if append:
        with path.open("a", encoding="utf-8") as f:
            f.write("".join(lines))
    else:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)
    return len(lines)


def iter_jsonl(path: str | Path) -> Iterator[Episode | RolloutTree | RunStats]:
    """Read back what ``save_jsonl`` wrote, lazily."""
    with Path(path).open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            d = json.loads(line)
            kind = d.pop("type", "episode")
            if kind not in _TYPES:
                raise ValueError(f"{path}:{line_no}: unknown record type {kind!r}")
            yield _TYPES[kind].from_dict(d)


def load_jsonl(path: str | Path) -> list[Episode | RolloutTree | RunStats]:
    """Read back what ``save_jsonl`` wrote."""
    return list(iter_jsonl(path))
