"""The rollout runner: many episodes at once, one batched ``generate`` call per policy per step.

``RolloutRunner(env, policies, params)`` drives ``CollabEnv`` instances (built from a registered
env id or a factory) with any objects implementing the policy protocol
(``generate(conversations, params) -> list[Generation]``):

- ``run_episodes(tasks, n_per_task, seed)``: flat joint episodes (GRPO/MAPPO/CCPO joint side); all
  envs advance stage by stage together, and at each step every pending prompt of one policy goes
  out in ONE ``generate`` call (per distinct sampling params);
- ``run_ablated(tasks, ablate, n_per_task, seed)``: the same with agents ablated (CCPO's solo
  counterfactual: ``ablate=["thinker_0"]``);
- ``run_tree(task, fanout=[2, 4], prefix=...)``: a C3 rollout tree from a frozen prefix; at each
  level, every frontier node's next decision is sampled ``fanout[level]`` times from its
  byte-identical context (one call per level, ``params.n = fanout``), and each sample is continued
  downstream; node value = mean leaf reward of its subtree.

Verification is batched too: before the envs close a stage that ends their task, the runner
collects every response they will verify (team answers and counterfactual re-votes), verifies
them in one ``verify_many`` call per verifier, and the envs read the cached verdicts.
``runner.last_stats`` / ``runner.stats`` record what runs spent (``RunStats``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..envs.engine import as_text
from ..policy import Generation, Policy, SamplingParams
from ..topologies.prompts import split_prompt, to_conversation
from ..types import Message, Task, Verdict
from .data import Episode, MessageRecord, RolloutTree, RunStats, TreeNode
from .progress import RolloutProgress

EnvFactory = Callable[[], Any]


class CachingVerifier:
    """Wraps a verifier: remembers verdicts by ``(task, response)`` and verifies batches at once.

    ``prefetch`` sends everything not yet known in one ``verify_many`` call; ``verify`` /
    ``verify_many`` answer from the cache and verify the rest. ``calls`` counts responses actually
    verified by the wrapped verifier.
    """

    def __init__(self, inner: Any, max_entries: int = 200_000) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self.kind = getattr(inner, "kind", "")
        self._cache: dict[tuple[Task, str], Verdict] = {}
        self.calls = 0
        self.seconds = 0.0

    def answer_key(self, response: str) -> str | None:
        return self.inner.answer_key(response)

    def prefetch(self, responses: Sequence[str], tasks: Sequence[Task]) -> None:
        todo: dict[tuple[Task, str], None] = {}
        for r, t in zip(responses, tasks, strict=False):
            if (t, r) not in self._cache:
                todo[(t, r)] = None
        if not todo:
            return
        keys = list(todo)
        if len(self._cache) + len(keys) > self.max_entries:
            self._cache.clear()
        start = time.perf_counter()
        verdicts = self.inner.verify_many([r for _, r in keys], [t for t, _ in keys])
        self.seconds += time.perf_counter() - start
        self.calls += len(keys)
        self._cache.update(zip(keys, verdicts, strict=False))

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        self.prefetch(responses, tasks)
        return [self._cache[(t, r)] for r, t in zip(responses, tasks, strict=False)]

    def verify(self, response: str, task: Task) -> Verdict:
        return self.verify_many([response], [task])[0]

    def clear(self) -> None:
        self._cache.clear()


@dataclass
class _Slot:
    """One env of a batch and what the runner knows about its episode."""

    env: Any
    task: Task
    group_id: str
    episode_id: str
    sample_index: int
    seed: int | None
    ablate: tuple[str, ...]
    records: list[MessageRecord] = field(default_factory=list)
    prefix_len: int = 0
    episode: Episode | None = None
    node_ids: list[str | None] = field(default_factory=list)


def _stable_seed(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % (2**31 - 1)


class RolloutRunner:
    """Runs episodes of one env with one policy per role (see the module docstring).

    Args:
        env: a registered env id (``"llm-marl/MathDyad-v0"``) or a zero-argument factory returning
            a ``CollabEnv`` (possibly wrapped).
        policies: one policy for every agent, or a dict keyed by role (``{"thinker": p1, "reasoner":
            p2}``) and/or by agent (``{"solver_0": p1, "solver": p}``: an agent key wins over its
            role's); every agent needs one. One ``generate`` call per distinct (policy, params) per step.
        params: sampling parameters for every agent, or a dict keyed like ``policies`` (missing
            entries get the defaults); ``params.n`` is managed by the runner.
        env_kwargs: extra keyword arguments when ``env`` is an id (e.g. ``tasks=``, ``prompt_style=``).
        progress: a tqdm bar on stderr: ``True`` always, ``False`` never, ``None`` (default) once a
            run has lasted 2 s (``rollout.progress.AUTO_DELAY_S``): short runs print nothing.

    Seeding: with a run ``seed`` (or ``params.seed``) every ``generate`` call gets its own seed
    derived from (seed, call index, step), and every episode an env seed derived from (seed, run,
    task, sample): a fresh runner given the same calls reproduces its episodes exactly (with
    backends that honour per-request seeds), while successive calls sample afresh.
    """

    def __init__(
        self,
        env: str | EnvFactory,
        policies: Policy | Mapping[str, Policy],
        params: SamplingParams | Mapping[str, SamplingParams] | None = None,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> None:
        if isinstance(env, str):
            from ..envs.registration import make

            env_id, kwargs = env, dict(env_kwargs or {})
            self._factory: EnvFactory = lambda: make(env_id, **kwargs)
            self.env_id = env_id
        else:
            if env_kwargs:
                raise TypeError("env_kwargs only apply when env is an env id")
            self._factory = env
            self.env_id = ""
        self._pool: list[Any] = []
        probe = self._new_env()
        self.env_id = self.env_id or probe.metadata.get("name", "env")
        topology = probe.unwrapped.topology
        self.agents = list(probe.possible_agents)
        self.roles = sorted({topology.role(a) for a in self.agents})
        self._pool.append(probe)
        if isinstance(policies, Mapping):
            unknown = set(policies) - set(self.roles) - set(self.agents)
            missing = [a for a in self.agents if a not in policies and topology.role(a) not in policies]
            if unknown or missing:
                raise ValueError(
                    f"policies must be keyed by role {self.roles} or agent {self.agents}; "
                    f"unknown keys {sorted(unknown)}, agents without a policy {missing}"
                )
            self.policies = {a: policies.get(a, policies.get(topology.role(a))) for a in self.agents}
        else:
            self.policies = dict.fromkeys(self.agents, policies)
        base = SamplingParams()
        if params is None or isinstance(params, SamplingParams):
            self.params = dict.fromkeys(self.agents, params or base)
        else:
            self.params = {a: params.get(a, params.get(topology.role(a), base)) for a in self.agents}
        self.progress = progress
        self._verifiers: dict[str, CachingVerifier] = {}
        self.reset_counters()
        self.stats = RunStats()
        self.last_stats = RunStats()

    def reset_counters(self) -> None:
        """Restart the call/run counters that per-call seeds are derived from, so that the samples
        drawn next depend only on the seeds passed in, not on how many calls this runner served
        before (exact resume of training from a checkpoint)."""
        self._calls = itertools.count()
        self._runs = itertools.count()

    # ------------------------------------------------------------------ env pool
    def _new_env(self) -> Any:
        env = self._factory()
        if not hasattr(env.unwrapped, "engine") or not hasattr(env, "agent_iter"):
            raise TypeError(f"the runner drives AEC CollabEnv instances, got {type(env.unwrapped).__name__}")
        if getattr(env.unwrapped, "is_lockstep", False):
            raise ValueError("the runner needs a non-lockstep AEC env (do not set max_cycles/lockstep)")
        return env

    def _envs(self, n: int) -> list[Any]:
        while len(self._pool) < n:
            self._pool.append(self._new_env())
        return self._pool[:n]

    def _install_verifiers(self, env: Any, kinds: set[str]) -> None:
        raw = env.unwrapped
        for kind in kinds:
            if kind not in self._verifiers:
                inner = raw.verifier_for(kind)
                self._verifiers[kind] = inner if isinstance(inner, CachingVerifier) else CachingVerifier(inner)
        if raw.verifier is not self._verifiers:
            raw.verifier = self._verifiers

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
        source), all envs stepped together; returns episodes task-major (group by group)."""
        run = next(self._runs)
        probe = self._pool[0].unwrapped
        resolved = [t if isinstance(t, Task) else probe.task_source[int(t)] for t in tasks]
        slots: list[_Slot] = []
        envs = self._envs(len(resolved) * n_per_task)
        tag = "+".join(ablate)
        for j, task in enumerate(resolved):
            group_id = f"r{run}/g{j}/{task.id}"
            for k in range(n_per_task):
                env = envs[len(slots)]
                ep_seed = None if seed is None else _stable_seed(seed, run, j, k)
                episode_id = f"{group_id}/{k}" + (f"/ablate={tag}" if tag else "")
                slots.append(_Slot(env, task, group_id, episode_id, k, ep_seed, tuple(ablate)))
        for slot in slots:
            self._reset(slot, prefix)
        self._play(slots, seed)
        return [s.episode for s in slots if s.episode is not None]

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
        probe = self._pool[0].unwrapped
        tasks = [t if isinstance(t, Task) else probe.task_source[int(t)] for t in tasks]
        fanout = [int(f) for f in fanout]
        if any(f < 1 for f in fanout):
            raise ValueError(f"fanout entries must be >= 1, got {fanout}")
        prefixes = [()] * len(tasks) if prefixes is None else list(prefixes)
        if len(prefixes) != len(tasks):
            raise ValueError(f"got {len(prefixes)} prefixes for {len(tasks)} tasks")
        prefix_records = [[self._as_record(m) for m in p] for p in prefixes]
        tree_ids = [f"r{run}/tree{j}/{task.id}" for j, task in enumerate(tasks)]
        trees_nodes: list[dict[str, TreeNode]] = [{"root": TreeNode("root", None, 0)} for _ in tasks]
        leaves: list[list[_Slot]] = [[] for _ in tasks]
        stats = RunStats()
        start = time.perf_counter()
        # frontier: (tree index, node id, generated records on the path from the root)
        frontier: list[tuple[int, str, list[MessageRecord]]] = [(j, "root", []) for j in range(len(tasks))]
        depth = 0
        bar = RolloutProgress(None, f"rollout trees {self.env_id}", "level", self.progress)
        try:
            while frontier:
                width = fanout[depth] if depth < len(fanout) else 1
                bar.phase(f"level {depth + 1}: generate {len(frontier)} prompt(s) x {width}")
                slots = []
                for (j, node_id, path), env in zip(frontier, self._envs(len(frontier)), strict=False):
                    slot = _Slot(env, tasks[j], tree_ids[j], f"{tree_ids[j]}/{node_id}", 0, None, tuple(ablate))
                    self._reset(slot, [*prefix_records[j], *path], seed=None)
                    slots.append(slot)
                # one decision per frontier node: the first agent still to act in its stage
                requests = [(s, s.env.unwrapped.engine.acting()[0]) for s in slots]
                gens = self._generate(requests, width, seed, depth, stats)
                next_frontier: list[tuple[int, str, list[MessageRecord]]] = []
                finishing: list[tuple[int, str, Generation, str]] = []
                for (slot, agent), samples, (j, node_id, path) in zip(requests, gens, frontier, strict=True):
                    nodes = trees_nodes[j]
                    engine = slot.env.unwrapped.engine
                    ends_task = engine.is_last_stage() and len(engine.acting()) == 1
                    for i, gen in enumerate(samples):
                        child_id = f"{node_id}.{i}"
                        record = self._record(slot, agent, gen, node_id=child_id, parent_id=node_id)
                        nodes[child_id] = TreeNode(child_id, node_id, depth + 1, record)
                        nodes[node_id].children.append(child_id)
                        if ends_task:
                            finishing.append((j, agent, gen, child_id))
                        else:
                            next_frontier.append((j, child_id, [*path, record]))
                if finishing:
                    bar.phase(f"level {depth + 1}: verify {len(finishing)} leaves")
                    self._score_leaves(finishing, tasks, tree_ids, prefix_records, trees_nodes, leaves, ablate, stats)
                frontier = next_frontier
                depth += 1
                bar.update(1)
        finally:
            bar.close()
        stats.wall_s = time.perf_counter() - start
        self._account(stats)
        trees = []
        for j, task in enumerate(tasks):
            nodes = trees_nodes[j]
            for node in reversed(list(nodes.values())):  # children before parents
                rewards = self._leaf_rewards(nodes, node.node_id)
                node.value = sum(rewards) / len(rewards)
            episodes = [leaf.episode for leaf in leaves[j]]
            tokens = sum(len(n.message.token_ids) for n in nodes.values() if n.message is not None)
            trees.append(RolloutTree(
                tree_id=tree_ids[j],
                task=task,
                env_id=self.env_id,
                fanout=fanout,
                prefix=prefix_records[j],
                nodes=nodes,
                episodes=episodes,
                evaluator_calls=len(episodes),
                generated_tokens=tokens,
                metadata={"ablated": list(ablate)},
            ))
        return trees

    def _score_leaves(self, finishing, tasks, tree_ids, prefix_records, trees_nodes, leaves, ablate, stats) -> None:
        """Replay each finishing path in an env and step its last message; verification batched."""
        work = []
        for (j, agent, gen, child_id), env in zip(finishing, self._envs(len(finishing)), strict=False):
            nodes = trees_nodes[j]
            path = [n.message for n in self._path(nodes, nodes[child_id].parent_id)]
            leaf = _Slot(env, tasks[j], tree_ids[j], f"{tree_ids[j]}/{child_id}", len(leaves[j]), None, tuple(ablate))
            self._reset(leaf, [*prefix_records[j], *path], seed=None)
            leaf.prefix_len = len(prefix_records[j])
            leaves[j].append(leaf)
            work.append((leaf, {agent: gen}, child_id, j))
        self._finish_step([(leaf, gens) for leaf, gens, _, _ in work], stats, node_ids=[c for _, _, c, _ in work])
        for leaf, _, child_id, j in work:
            nodes = trees_nodes[j]
            episode = leaf.episode
            episode.leaf_id = child_id
            for rec, node in zip(episode.messages[episode.prefix_len :], self._path(nodes, child_id), strict=True):
                rec.node_id, rec.parent_id = node.node_id, node.parent_id
                rec.generation = node.message.generation
            nodes[child_id].reward = episode.reward
            nodes[child_id].verdict = episode.verdict

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _path(nodes: dict[str, TreeNode], node_id: str) -> list[TreeNode]:
        out = []
        node = nodes[node_id]
        while node.parent_id is not None:
            out.append(node)
            node = nodes[node.parent_id]
        return out[::-1]

    @staticmethod
    def _leaf_rewards(nodes: dict[str, TreeNode], node_id: str) -> list[float]:
        stack, out = [node_id], []
        while stack:
            node = nodes[stack.pop()]
            if node.is_leaf:
                out.append(float(node.reward or 0.0))
            else:
                stack.extend(node.children)
        return out

    @staticmethod
    def _as_record(m: Message | MessageRecord) -> MessageRecord:
        if isinstance(m, MessageRecord):
            return m
        if isinstance(m, dict):
            m = Message.from_dict(m)
        return MessageRecord(m.agent, m.role, m.content, m.turn, -1, m.context)

    def _reset(self, slot: _Slot, prefix: Sequence[Message | MessageRecord], seed: int | None | str = "slot") -> None:
        env = slot.env
        self._install_verifiers(env, {slot.task.kind})
        messages = [p.message if isinstance(p, MessageRecord) else p for p in prefix]
        env.reset(
            seed=slot.seed if seed == "slot" else seed,
            options={"task": slot.task, "ablate": list(slot.ablate), "prefix": messages},
        )
        engine = env.unwrapped.engine
        # the replayed prefix as records, with the env's own contexts and stages
        slot.records = []
        # The env commits a stage's messages in schedule order, whatever order the caller listed them
        # in: pair each committed message with the caller's next one *of the same agent*.
        by_agent: dict[str, list[Message | MessageRecord]] = {}
        for original in prefix:
            by_agent.setdefault(original.agent, []).append(original)
        for turn in engine.committed_turns():
            m = turn.message
            queue = by_agent.get(m.agent)
            original = queue.pop(0) if queue else None
            system, user = split_prompt(m.context)
            slot.records.append(
                MessageRecord(
                    m.agent, m.role, m.content, m.turn, turn.stage, m.context, to_conversation(system, user),
                    original.generation if isinstance(original, MessageRecord) else None,
                    getattr(original, "node_id", None), getattr(original, "parent_id", None),
                )
            )
        slot.prefix_len = len(slot.records)
        slot.episode = None

    def _record(self, slot: _Slot, agent: str, gen: Generation, node_id: str | None = None,
                parent_id: str | None = None) -> MessageRecord:
        engine = slot.env.unwrapped.engine
        obs = engine.observation(agent)
        return MessageRecord(
            agent=agent,
            role=obs["role"],
            content=as_text(gen.text, engine.max_message_chars),
            turn=engine.decisions_made,
            stage=engine.stage.index,
            context=obs["prompt"],
            conversation=[{"role": "system", "content": obs["system"]}, {"role": "user", "content": obs["user"]}],
            generation=gen,
            node_id=node_id,
            parent_id=parent_id,
        )

    def _generate(
        self, requests: Sequence[tuple[_Slot, str]], n: int, seed: int | None, step: int, stats: RunStats
    ) -> list[list[Generation]]:
        """One ``generate`` call per (policy, params) group; returns ``n`` generations per request."""
        groups: dict[tuple[int, SamplingParams], list[int]] = {}
        for i, (_, agent) in enumerate(requests):
            groups.setdefault((id(self.policies[agent]), self.params[agent]), []).append(i)
        out: list[list[Generation]] = [[] for _ in requests]
        for (_, params), idx in groups.items():
            policy = self.policies[requests[idx[0]][1]]
            call = next(self._calls)
            p = params.with_(n=n)
            base = params.seed if params.seed is not None else seed
            if base is not None:  # a fresh, reproducible seed per call (never the same one twice)
                p = p.with_(seed=_stable_seed(base, call, step))
            conversations = [requests[i][0].env.unwrapped.engine.conversation(requests[i][1]) for i in idx]
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

    def _play(self, slots: list[_Slot], seed: int | None) -> None:
        """Step every slot's env stage by stage until all episodes end."""
        stats = RunStats()
        start = time.perf_counter()
        active = [s for s in slots if s.episode is None]
        step = 0
        with RolloutProgress(len(slots), f"rollout {self.env_id}", "ep", self.progress) as bar:
            while active:
                requests = [(s, a) for s in active for a in s.env.unwrapped.engine.acting()]
                bar.phase(f"step {step + 1}: generate {len(requests)} prompt(s)")
                gens = self._generate(requests, 1, seed, step, stats)
                per_slot: dict[int, dict[str, Generation]] = {}
                for (slot, agent), g in zip(requests, gens, strict=False):
                    per_slot.setdefault(id(slot), {})[agent] = g[0]
                bar.phase(f"step {step + 1}: verify and step")
                self._finish_step([(s, per_slot[id(s)]) for s in active], stats)
                bar.update(sum(1 for s in active if s.episode is not None))
                active = [s for s in active if s.episode is None]
                step += 1
        stats.wall_s = time.perf_counter() - start
        self._account(stats)

    def _finish_step(self, work: list[tuple[_Slot, dict[str, Generation]]], stats: RunStats,
                     node_ids: list[str] | None = None) -> None:
        """Apply one stage's generations to each slot's env (verification prefetched in batch)."""
        # 1. prefetch the verdicts of every task that ends with this stage
        todo: dict[str, tuple[list[str], list[Task]]] = {}
        for slot, gens in work:
            engine = slot.env.unwrapped.engine
            if engine.is_last_stage() and set(engine.acting()) <= set(gens):
                texts = engine.scoring_requests({a: g.text for a, g in gens.items()})
                bucket = todo.setdefault(slot.task.kind, ([], []))
                bucket[0].extend(texts)
                bucket[1].extend([slot.task] * len(texts))
        for kind, (texts, tasks) in todo.items():
            verifier = self._verifiers[kind]
            before_calls, before_s = verifier.calls, verifier.seconds
            verifier.prefetch(texts, tasks)
            stats.verifier_calls += verifier.calls - before_calls
            stats.verify_s += verifier.seconds - before_s
        # 2. step the envs
        for k, (slot, gens) in enumerate(work):
            env = slot.env
            engine = env.unwrapped.engine
            for agent in list(engine.acting()):
                if agent not in gens:
                    continue
                slot.records.append(self._record(slot, agent, gens[agent],
                                                 node_id=None if node_ids is None else node_ids[k]))
                if env.agent_selection != agent:
                    raise RuntimeError(f"env selects {env.agent_selection}, runner expected {agent}")
                env.step(gens[agent].text)
            if engine.status != "running":
                self._close_episode(slot, stats)

    def _close_episode(self, slot: _Slot, stats: RunStats) -> None:
        result = slot.env.unwrapped.engine.finished[-1]
        slot.episode = Episode(
            episode_id=slot.episode_id,
            group_id=slot.group_id,
            task=slot.task,
            env_id=self.env_id,
            messages=slot.records,
            reward=result.reward,
            verdict=result.verdict,
            team_answer=result.team_answer.to_dict(),
            counterfactual_rewards=None if result.counterfactual_rewards is None else dict(result.counterfactual_rewards),
            ablated=sorted(slot.ablate),
            sample_index=slot.sample_index,
            seed=slot.seed,
            prefix_len=slot.prefix_len,
        )
        stats.episodes += 1
        stats.evaluator_calls += 1

    def _account(self, stats: RunStats) -> None:
        self.last_stats = stats
        self.stats.add(stats)
