"""The rollout runner: many episodes at once, one batched ``generate`` call per policy per step.

``RolloutRunner(env, policies, params)`` drives episodes of one env (a registered env id or a
factory) with any objects implementing the policy protocol
(``generate(conversations, params) -> list[Generation]``):

- ``run_episodes(tasks, n_per_task, seed)``: flat joint episodes (GRPO/MAPPO/CCPO joint side); all
  episodes advance stage by stage together, and at each step every pending prompt of one policy
  goes out in ONE ``generate`` call (per distinct sampling params);
- ``run_ablated(tasks, ablate, n_per_task, seed)``: the same with agents ablated (CCPO's solo
  counterfactual: ``ablate=["thinker_0"]``);
- ``run_tree(task, fanout=[2, 4], prefix=...)``: a C3 rollout tree from a frozen prefix; at each
  level, every frontier node's next decision is sampled ``fanout[level]`` times from its
  byte-identical context (one call per level, ``params.n = fanout``), and each sample is continued
  downstream; node value = mean leaf reward of its subtree.

The runner never touches an env: it talks to an ``Executor`` (``rollout.executor``: in process, or
env workers on Ray, ``executor="ray", workers=N``) through plain data: it opens episodes
(``EpisodeSpec``), reads the pending decisions with their exact contexts, sends one stage of texts
per episode and gets the finished ones back; the workers batch verification (one ``verify_many``
per task kind per step). The runner keeps the ``Generation``s and builds the ``Episode``s and
``RolloutTree``s. The same seeds give the same episodes with either executor.
``runner.last_stats`` / ``runner.stats`` record what runs spent (``RunStats``).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..policy import Generation, Policy, SamplingParams
from ..topologies.base import Turn
from ..topologies.prompts import split_prompt, to_conversation
from ..types import Message, Task
from .data import Episode, MessageRecord, RolloutTree, RunStats, TreeNode
from .executor import Executor, make_executor
from .progress import RolloutProgress
from .worker import CachingVerifier, EpisodeSpec, Finished, PendingDecision

EnvFactory = Callable[[], Any]

__all__ = ["CachingVerifier", "RolloutRunner"]


@dataclass
class _Play:
    """One episode as the runner sees it: its ids and the records of its messages so far."""

    spec: EpisodeSpec
    group_id: str
    sample_index: int
    records: list[MessageRecord] = field(default_factory=list)
    prefix_len: int = 0
    episode: Episode | None = None


@dataclass
class _Tree:
    """One rollout tree being grown: its nodes and its leaves' episodes."""

    tree_id: str
    task: Task
    prefix: list[MessageRecord]
    nodes: dict[str, TreeNode] = field(default_factory=lambda: {"root": TreeNode("root", None, 0)})
    episodes: list[Episode] = field(default_factory=list)

    def path(self, node_id: str) -> list[MessageRecord]:
        """The generated records from the first decision down to ``node_id``."""
        out = []
        node = self.nodes[node_id]
        while node.parent_id is not None:
            out.append(node.message)
            node = self.nodes[node.parent_id]
        return out[::-1]

    def add(self, parent_id: str, record: MessageRecord) -> str:
        """Add ``record`` as the next child of ``parent_id``; returns the child's id."""
        parent = self.nodes[parent_id]
        child_id = f"{parent_id}.{len(parent.children)}"
        record.node_id, record.parent_id = child_id, parent_id
        self.nodes[child_id] = TreeNode(child_id, parent_id, parent.depth + 1, record)
        parent.children.append(child_id)
        return child_id

    def leaf_rewards(self, node_id: str) -> list[float]:
        stack, out = [node_id], []
        while stack:
            node = self.nodes[stack.pop()]
            if node.is_leaf:
                out.append(float(node.reward or 0.0))
            else:
                stack.extend(node.children)
        return out


def _stable_seed(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % (2**31 - 1)


def _as_message(m: Message | MessageRecord | dict) -> Message:
    if isinstance(m, MessageRecord):
        return m.message
    if isinstance(m, dict):
        return Message.from_dict(m)
    if not isinstance(m, Message):
        raise TypeError(f"a prefix holds Message or MessageRecord items, got {type(m).__name__}")
    return m


def _as_record(m: Message | MessageRecord | dict) -> MessageRecord:
    """A caller's prefix item as a record (a plain ``Message`` gets ``stage=-1``: not known)."""
    return m if isinstance(m, MessageRecord) else MessageRecord.of(_as_message(m), -1)


def _prefix_records(turns: Sequence[Turn], originals: Sequence[Message | MessageRecord | dict]) -> list[MessageRecord]:
    """The replayed prefix as records, with the env's own contexts and stages. The env commits a
    stage's messages in schedule order, whatever order the caller listed them in: each committed
    message is paired with the caller's next one *of the same agent* (for its generation and node)."""
    by_agent: dict[str, list[Any]] = {}
    for original in originals:
        agent = original["agent"] if isinstance(original, dict) else original.agent
        by_agent.setdefault(agent, []).append(original)
    records = []
    for turn in turns:
        m = turn.message
        queue = by_agent.get(m.agent)
        original = queue.pop(0) if queue else None
        known = original if isinstance(original, MessageRecord) else None
        records.append(MessageRecord.of(
            m, turn.stage, to_conversation(*split_prompt(m.context)),
            None if known is None else known.generation,
            None if known is None else known.node_id,
            None if known is None else known.parent_id,
        ))
    return records


def _record(d: PendingDecision, gen: Generation, node_id: str | None = None, parent_id: str | None = None) -> MessageRecord:
    """The record of ``gen`` written at decision ``d`` (the message the env commits for it)."""
    return MessageRecord.of(d.message(gen.text), d.stage, d.conversation, gen, node_id, parent_id)


class RolloutRunner:
    """Runs episodes of one env with one policy per role (see the module docstring).

    Args:
        env: a registered env id (``"llm-marl/MathDyad-v0"``) or a zero-argument factory returning
            a ``CollabEnv`` (possibly wrapped; local executor only).
        policies: one policy for every agent, or a dict keyed by role (``{"thinker": p1, "reasoner":
            p2}``) and/or by agent (``{"solver_0": p1, "solver": p}``: an agent key wins over its
            role's); every agent needs one. One ``generate`` call per distinct (policy, params) per step.
        params: sampling parameters for every agent, or a dict keyed like ``policies`` (missing
            entries get the defaults); ``params.n`` is managed by the runner.
        env_kwargs: extra keyword arguments when ``env`` is an id (e.g. ``tasks=``, ``prompt_style=``).
        progress: a tqdm bar on stderr: ``True`` always, ``False`` never, ``None`` (default) once a
            run has lasted 2 s (``rollout.progress.AUTO_DELAY_S``): short runs print nothing.
        executor: where the envs run: ``"local"`` (in process, default), ``"ray"`` (``workers`` env
            actors on the Ray cluster at ``ray_address``, ``None``: a local ``ray.init()``), or an
            ``Executor`` instance (then ``env`` names the env for the records only).

    Seeding: with a run ``seed`` (or ``params.seed``) every ``generate`` call gets its own seed
    derived from (seed, call index, step), and every episode an env seed derived from (seed, run,
    task, sample): a fresh runner given the same calls reproduces its episodes exactly (with
    backends that honour per-request seeds), while successive calls sample afresh.

    Episodes carry ``policy_version``: the largest ``version`` attribute of the policies when the
    run starts (0 when they have none).
    """

    def __init__(
        self,
        env: str | EnvFactory,
        policies: Policy | Mapping[str, Policy],
        params: SamplingParams | Mapping[str, SamplingParams] | None = None,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        executor: str | Executor = "local",
        workers: int = 1,
        ray_address: str | None = None,
    ) -> None:
        self._owns_executor = isinstance(executor, str)
        self.executor: Executor = make_executor(executor, env, env_kwargs, workers=workers, address=ray_address)
        info = self.executor.describe()
        self.env_id = env if isinstance(env, str) else info.name
        self.agents = list(info.agents)
        roles = dict(info.roles)
        self.roles = sorted(set(roles.values()))
        if isinstance(policies, Mapping):
            unknown = set(policies) - set(self.roles) - set(self.agents)
            missing = [a for a in self.agents if a not in policies and roles[a] not in policies]
            if unknown or missing:
                raise ValueError(
                    f"policies must be keyed by role {self.roles} or agent {self.agents}; "
                    f"unknown keys {sorted(unknown)}, agents without a policy {missing}"
                )
            self.policies = {a: policies.get(a, policies.get(roles[a])) for a in self.agents}
        else:
            self.policies = dict.fromkeys(self.agents, policies)
        base = SamplingParams()
        if params is None or isinstance(params, SamplingParams):
            self.params = dict.fromkeys(self.agents, params or base)
        else:
            self.params = {a: params.get(a, params.get(roles[a], base)) for a in self.agents}
        self.progress = progress
        self.reset_counters()
        self.stats = RunStats()
        self.last_stats = RunStats()

    def reset_counters(self) -> None:
        """Restart the call/run counters that per-call seeds are derived from, so that the samples
        drawn next depend only on the seeds passed in, not on how many calls this runner served
        before (exact resume of training from a checkpoint)."""
        self._calls = itertools.count()
        self._runs = itertools.count()

    def close(self) -> None:
        """Release the executor's workers when this runner built it (from ``executor="local"|"ray"``)."""
        if self._owns_executor:
            self.executor.shutdown()

    def __enter__(self) -> RolloutRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def policy_version(self) -> int:
        """The largest ``version`` attribute of this runner's policies (0 when none has one)."""
        versions = [getattr(p, "version", 0) for p in {id(p): p for p in self.policies.values()}.values()]
        return max((int(v) for v in versions if isinstance(v, int) and not isinstance(v, bool)), default=0)

    # ------------------------------------------------------------------ public API
    def run_episodes(
        self,
        tasks: Sequence[Task | int],
        n_per_task: int = 1,
        seed: int | None = 0,
        *,
        ablate: Sequence[str] = (),
        prefix: Sequence[Message | MessageRecord] = (),
    ) -> list[Episode]:
        """Play ``n_per_task`` episodes of every task (a ``Task`` or an index into the env's task
        source), all stepped together; returns episodes task-major (group by group)."""
        run = next(self._runs)
        resolved = self.executor.resolve(list(tasks))
        messages = tuple(_as_message(m) for m in prefix)
        tag = "+".join(ablate)
        plays = []
        for j, task in enumerate(resolved):
            group_id = f"r{run}/g{j}/{task.id}"
            for k in range(n_per_task):
                key = f"{group_id}/{k}" + (f"/ablate={tag}" if tag else "")
                ep_seed = None if seed is None else _stable_seed(seed, run, j, k)
                plays.append(_Play(EpisodeSpec(key, task, ep_seed, tuple(ablate), messages), group_id, k))
        self._play(plays, prefix, seed)
        return [p.episode for p in plays if p.episode is not None]

    def run_ablated(
        self, tasks: Sequence[Task | int], ablate: Sequence[str], n_per_task: int = 1, seed: int | None = 0
    ) -> list[Episode]:
        """``run_episodes`` with ``ablate``d agents (CCPO dyad: ``ablate=["thinker_0"]``, the reasoner alone)."""
        if not ablate:
            raise ValueError("run_ablated needs at least one agent to ablate")
        return self.run_episodes(tasks, n_per_task, seed, ablate=ablate)

    def run_tree(
        self,
        task: Task | int,
        fanout: Sequence[int] = (2, 4),
        prefix: Sequence[Message | MessageRecord] = (),
        seed: int | None = 0,
        *,
        ablate: Sequence[str] = (),
    ) -> RolloutTree:
        """Grow one rollout tree from ``prefix`` (see ``run_trees``)."""
        return self.run_trees([task], fanout, [prefix], seed, ablate=ablate)[0]

    def run_trees(
        self,
        tasks: Sequence[Task | int],
        fanout: Sequence[int] = (2, 4),
        prefixes: Sequence[Sequence[Message | MessageRecord]] | None = None,
        seed: int | None = 0,
        *,
        ablate: Sequence[str] = (),
    ) -> list[RolloutTree]:
        """Grow one rollout tree per task, all level by level together.

        Level ``d`` samples ``fanout[d]`` messages (1 past the end of ``fanout``) for the next
        decision of every node at depth ``d`` of every tree: one ``generate`` call per policy per
        level (``params.n = fanout[d]``), all siblings from the byte-identical context. A sample
        that ends the task is a leaf (scored, with verification batched per level); any other is
        continued at the next level. ``prefixes[i]`` (default: none) is the frozen prefix of tree
        ``i``: the root stands right after it.
        """
        run = next(self._runs)
        resolved = self.executor.resolve(list(tasks))
        fanout = [int(f) for f in fanout]
        if any(f < 1 for f in fanout):
            raise ValueError(f"fanout entries must be >= 1, got {fanout}")
        prefixes = [()] * len(resolved) if prefixes is None else list(prefixes)
        if len(prefixes) != len(resolved):
            raise ValueError(f"got {len(prefixes)} prefixes for {len(resolved)} tasks")
        trees = [_Tree(f"r{run}/tree{j}/{task.id}", task, [_as_record(m) for m in p])
                 for j, (task, p) in enumerate(zip(resolved, prefixes, strict=True))]
        version = self.policy_version
        stats = RunStats()
        start = time.perf_counter()
        frontier: list[tuple[_Tree, str]] = [(tree, "root") for tree in trees]
        depth = 0
        bar = RolloutProgress(None, f"rollout trees {self.env_id}", "level", self.progress)
        try:
            while frontier:
                width = fanout[depth] if depth < len(fanout) else 1
                bar.phase(f"level {depth + 1}: generate {len(frontier)} prompt(s) x {width}")
                decisions = self._node_decisions(frontier, ablate)
                samples = self._generate(decisions, width, seed, depth, stats)
                next_frontier: list[tuple[_Tree, str]] = []
                leaves: list[tuple[_Tree, str]] = []
                for (tree, node_id), d, gens in zip(frontier, decisions, samples, strict=True):
                    for gen in gens:
                        child_id = tree.add(node_id, _record(d, gen))
                        (leaves if d.ends_task else next_frontier).append((tree, child_id))
                if leaves:
                    bar.phase(f"level {depth + 1}: verify {len(leaves)} leaves")
                    self._score_leaves(leaves, ablate, version, stats)
                frontier = next_frontier
                depth += 1
                bar.update(1)
        finally:
            bar.close()
        stats.wall_s = time.perf_counter() - start
        self._account(stats)
        return [self._finish_tree(tree, fanout, ablate) for tree in trees]

    # ------------------------------------------------------------------ trees
    def _node_spec(self, tree: _Tree, node_id: str, ablate: Sequence[str]) -> EpisodeSpec:
        """The episode standing at ``node_id``'s next decision: the tree's prefix, then its path."""
        prefix = tuple(r.message for r in (*tree.prefix, *tree.path(node_id)))
        return EpisodeSpec(f"{tree.tree_id}/{node_id}", tree.task, None, tuple(ablate), prefix)

    def _node_decisions(self, frontier: Sequence[tuple[_Tree, str]], ablate: Sequence[str]) -> list[PendingDecision]:
        """The next decision of every frontier node (the first agent still to act in its stage)."""
        specs = [self._node_spec(tree, node_id, ablate) for tree, node_id in frontier]
        with self._opened(specs):
            first: dict[str, PendingDecision] = {}
            for d in self.executor.pending():
                first.setdefault(d.key, d)
            return [first[s.key] for s in specs]

    def _score_leaves(self, leaves: Sequence[tuple[_Tree, str]], ablate: Sequence[str], version: int,
                      stats: RunStats) -> None:
        """Replay each leaf's path up to its parent, submit the leaf's message, record its episode
        (verification batched over all leaves by the executor)."""
        specs = [self._node_spec(tree, tree.nodes[leaf_id].parent_id, ablate) for tree, leaf_id in leaves]
        specs = [EpisodeSpec(f"{tree.tree_id}/{leaf_id}", s.task, None, s.ablate, s.prefix)
                 for (tree, leaf_id), s in zip(leaves, specs, strict=True)]
        with self._opened(specs) as opened:
            actions = {}
            for (tree, leaf_id), spec in zip(leaves, specs, strict=True):
                record = tree.nodes[leaf_id].message
                actions[spec.key] = {record.agent: record.generation.text}
            finished = {f.key: f for f in self._submit(actions, stats)}
        for (tree, leaf_id), spec, op in zip(leaves, specs, opened, strict=True):
            result = finished.get(spec.key)
            if result is None:
                raise RuntimeError(f"tree leaf {spec.key} did not end its task")
            path = tree.path(leaf_id)
            records = _prefix_records(op.turns, [*tree.prefix, *path[:-1]]) + [copy.copy(path[-1])]
            play = _Play(spec, tree.tree_id, len(tree.episodes), records, len(tree.prefix))
            episode = self._episode(play, result, version, stats)
            episode.leaf_id = leaf_id
            tree.episodes.append(episode)
            node = tree.nodes[leaf_id]
            node.reward, node.verdict = episode.reward, episode.verdict

    def _finish_tree(self, tree: _Tree, fanout: list[int], ablate: Sequence[str]) -> RolloutTree:
        for node in reversed(list(tree.nodes.values())):  # children before parents
            rewards = tree.leaf_rewards(node.node_id)
            node.value = sum(rewards) / len(rewards)
        tokens = sum(len(n.message.token_ids) for n in tree.nodes.values() if n.message is not None)
        return RolloutTree(
            tree_id=tree.tree_id,
            task=tree.task,
            env_id=self.env_id,
            fanout=fanout,
            prefix=tree.prefix,
            nodes=tree.nodes,
            episodes=tree.episodes,
            evaluator_calls=len(tree.episodes),
            generated_tokens=tokens,
            metadata={"ablated": list(ablate)},
        )

    # ------------------------------------------------------------------ internals
    def _opened(self, specs: Sequence[EpisodeSpec]) -> _OpenEpisodes:
        return _OpenEpisodes(self.executor, specs)

    def _generate(self, decisions: Sequence[PendingDecision], n: int, seed: int | None, step: int,
                  stats: RunStats) -> list[list[Generation]]:
        """One ``generate`` call per (policy, params) group; returns ``n`` generations per decision."""
        groups: dict[tuple[int, SamplingParams], list[int]] = {}
        for i, d in enumerate(decisions):
            groups.setdefault((id(self.policies[d.agent]), self.params[d.agent]), []).append(i)
        out: list[list[Generation]] = [[] for _ in decisions]
        for (_, params), idx in groups.items():
            policy = self.policies[decisions[idx[0]].agent]
            call = next(self._calls)
            p = params.with_(n=n)
            base = params.seed if params.seed is not None else seed
            if base is not None:  # a fresh, reproducible seed per call (never the same one twice)
                p = p.with_(seed=_stable_seed(base, call, step))
            conversations = [decisions[i].conversation for i in idx]
            start = time.perf_counter()
            gens = list(policy.generate(conversations, p))
            stats.generate_s += time.perf_counter() - start
            stats.generate_calls += 1
            stats.prompts += len(conversations)
            if len(gens) != len(idx) * n:
                raise RuntimeError(
                    f"{type(policy).__name__}.generate returned {len(gens)} generations for "
                    f"{len(idx)} prompts x n={n}"
                )
            for j, i in enumerate(idx):
                out[i] = gens[j * n : (j + 1) * n]
            for g in gens:
                stats.generated_tokens += len(g.token_ids or [])
                stats.generated_chars += len(g.text)
        return out

    def _submit(self, actions: Mapping[str, Mapping[str, str]], stats: RunStats) -> list[Finished]:
        """One stage of texts per episode through the executor; verifier spending goes to ``stats``."""
        before = self.executor.stats()
        finished = self.executor.submit(actions)
        after = self.executor.stats()
        stats.verifier_calls += after.verifier_calls - before.verifier_calls
        stats.verify_s += after.verify_s - before.verify_s
        return finished

    def _play(self, plays: list[_Play], prefix: Sequence[Message | MessageRecord], seed: int | None) -> None:
        """Step every episode stage by stage until all have ended."""
        stats = RunStats()
        start = time.perf_counter()
        version = self.policy_version
        active = {p.spec.key: p for p in plays}
        step = 0
        with RolloutProgress(len(plays), f"rollout {self.env_id}", "ep", self.progress) as bar, \
                self._opened([p.spec for p in plays]) as opened:
            for play, op in zip(plays, opened, strict=True):
                play.records = _prefix_records(op.turns, prefix)
                play.prefix_len = len(play.records)
            while active:
                decisions = [d for d in self.executor.pending() if d.key in active]
                bar.phase(f"step {step + 1}: generate {len(decisions)} prompt(s)")
                gens = self._generate(decisions, 1, seed, step, stats)
                actions: dict[str, dict[str, str]] = {}
                for d, g in zip(decisions, gens, strict=True):
                    active[d.key].records.append(_record(d, g[0]))
                    actions.setdefault(d.key, {})[d.agent] = g[0].text
                bar.phase(f"step {step + 1}: verify and step")
                finished = self._submit(actions, stats)
                for result in finished:
                    play = active.pop(result.key)
                    play.episode = self._episode(play, result, version, stats)
                self.executor.close([f.key for f in finished])
                bar.update(len(finished))
                step += 1
        stats.wall_s = time.perf_counter() - start
        self._account(stats)

    def _episode(self, play: _Play, result: Finished, version: int, stats: RunStats) -> Episode:
        spec = play.spec
        stats.episodes += 1
        stats.evaluator_calls += 1
        return Episode(
            episode_id=spec.key,
            group_id=play.group_id,
            task=spec.task,
            env_id=self.env_id,
            messages=play.records,
            reward=result.reward,
            verdict=result.verdict,
            team_answer=dict(result.team_answer),
            counterfactual_rewards=None if result.counterfactual_rewards is None else dict(result.counterfactual_rewards),
            ablated=sorted(spec.ablate),
            sample_index=play.sample_index,
            seed=spec.seed,
            prefix_len=play.prefix_len,
            policy_version=version,
        )

    def _account(self, stats: RunStats) -> None:
        self.last_stats = stats
        self.stats.add(stats)


class _OpenEpisodes:
    """``with``: open ``specs`` on ``executor`` (yields the ``Opened`` list); close them on exit."""

    def __init__(self, executor: Executor, specs: Sequence[EpisodeSpec]) -> None:
        self.executor = executor
        self.specs = list(specs)

    def __enter__(self) -> list[Any]:
        try:
            return self.executor.open(self.specs)
        except BaseException:  # a bad prefix: the specs opened before it are closed again
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        self.executor.close([s.key for s in self.specs])
