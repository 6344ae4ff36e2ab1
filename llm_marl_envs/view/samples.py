"""Synthetic and scripted rollouts for the viewer's tests, its load measurement and its screenshots.

``synthetic_episodes`` builds ``Episode`` records directly (fast: 10,000 in about a second);
``scripted_rollouts`` plays real envs through the rollout runner with a scripted agent that is right
on some tasks and wrong on others, so the pages show mixed rewards, verdicts and tree credits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ..policy import Generation
from ..rollout.data import Episode, MessageRecord, RolloutTree
from ..types import Task, Verdict

INJECTION = ("<script>document.body.setAttribute('data-pwned','script')</script></textarea></script>"
             "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
             "<a href=\"javascript:document.body.setAttribute('data-pwned','link')\">click</a>"
             "<!-- <svg onload=\"document.body.setAttribute('data-pwned','svg')\"> ]]> [bold red]markup[/] \u2028")
"""Model text that would run code if any of it reached the page as markup (tests: it must not)."""

_WORDS = ("first", "add", "the", "carry", "then", "multiply", "so", "we", "get", "check", "digits", "answer", "sum")


def _message(agent: str, role: str, content: str, turn: int, context: str, n_tok: int) -> MessageRecord:
    return MessageRecord(agent=agent, role=role, content=content, turn=turn, stage=turn, context=context,
                         conversation=[{"role": "user", "content": context}],
                         generation=Generation(text=content, token_ids=list(range(n_tok)), finish_reason="stop"))


def synthetic_episodes(n: int, *, seed: int = 0, n_tasks: int | None = None, marker_every: int = 0,
                       inject: str | None = None) -> list[Episode]:
    """``n`` dyad-like episodes (thinker then reasoner) over ``n_tasks`` arithmetic tasks, about half
    correct; every ``marker_every``-th episode's reasoner says the word ``needle`` (a search target);
    ``inject`` is put in every message, the task prompt and the task id."""
    rng = random.Random(seed)
    n_tasks = n_tasks or max(1, n // 8)
    out = []
    for i in range(n):
        t = i % n_tasks
        a, b = t % 97 + 2, t % 13 + 3
        gold = str(a * b)
        prompt = f"compute {a} * {b}" + (inject or "")
        task = Task(id=f"syn-{t}" + (inject or ""), kind="math", prompt=prompt, answer=gold)
        correct = rng.random() < 0.5
        answer = gold if correct else str(a * b + rng.randint(1, 9))
        hint = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30)))
        ctx0 = f"You are the thinker.\n\nProblem:\n{prompt}"
        thinker = f"Plan: {hint}." + (inject or "")
        ctx1 = f"You are the reasoner.\n\nProblem:\n{prompt}\n\nThinker:\n{thinker}"
        reasoner = (f"{a} * {b}: {hint[:40]} " + ("needle " if marker_every and i % marker_every == 0 else "")
                    + f"so the answer is \\boxed{{{answer}}}" + (inject or ""))
        status = "ok" if rng.random() > 0.05 else "no_answer"
        verdict = Verdict(correct=correct and status == "ok", score=float(correct and status == "ok"), status=status,
                          extracted=answer if status == "ok" else None, detail="boxed: synthetic")
        out.append(Episode(
            episode_id=f"r0/g{t}/{task.id}/{i // n_tasks}", group_id=f"r0/g{t}/{task.id}", task=task,
            env_id="llm-marl/MathDyad-v0",
            messages=[_message("thinker_0", "thinker", thinker, 0, ctx0, rng.randint(10, 60)),
                      _message("reasoner_0", "reasoner", reasoner, 1, ctx1, rng.randint(10, 60))],
            reward=verdict.score, verdict=verdict,
            team_answer={"agent": "reasoner_0", "text": reasoner, "key": None, "rule": "last", "votes": []},
            sample_index=i // n_tasks, seed=seed * 1_000_003 + i,
        ))
    return out


def _mixed_agent(seed: int, golds: dict[str, str]) -> Any:
    """A scripted team member: a thinker writes a short plan; a reasoner or voter answers the gold
    (looked up by problem text in ``golds``) on some calls and a near miss on others (a seeded RNG,
    so runs are reproducible). No text is ever evaluated."""
    from agents.scripted import FunctionAgent  # lazy: agents is a sibling package

    rng = random.Random(seed)

    def respond(conversation: list[dict[str, str]]) -> str:
        system = conversation[0]["content"] if conversation else ""
        user = conversation[-1]["content"] if conversation else ""
        problem = user.split("Problem:\n", 1)[-1].split("\n", 1)[0].strip()
        gold = golds.get(problem, "0")
        if "Thinker in" in system:
            return rng.choice([f"Work out {problem} step by step: inner brackets first.",
                               f"Hint: in {problem}, do the multiplication last.",
                               f"Estimate first: {problem} is a small number."])
        wrong = str(int(gold) + rng.choice([-3, -1, 1, 2, 10])) if gold.lstrip("-").isdigit() else gold + "0"
        guess = gold if rng.random() < 0.55 else wrong
        return rng.choice([f"Following the plan, {problem} = {guess}. The answer is \\boxed{{{guess}}}",
                           f"Step by step: {problem} gives {guess}.\n\\boxed{{{guess}}}"])

    return FunctionAgent(respond, conversation=True)


def scripted_rollouts(*, n_tasks: int = 6, n: int = 3, fanout: Sequence[int] = (2, 3), seed: int = 0
                      ) -> tuple[list[Episode], list[Episode], list[RolloutTree]]:
    """Real envs, scripted agents with mixed outcomes: (dyad episodes, voting episodes, dyad trees)."""
    from ..envs.collab_env import resolve_tasks
    from ..rollout.runner import RolloutRunner

    source = resolve_tasks("arith")
    golds = {source[i].prompt: str(source[i].answer) for i in range(n_tasks)}
    dyad = RolloutRunner("llm-marl/MathDyad-v0", _mixed_agent(seed, golds), progress=False)
    episodes = dyad.run_episodes(list(range(n_tasks)), n, seed=seed)
    trees = RolloutRunner("llm-marl/MathDyad-v0", _mixed_agent(seed + 1, golds), progress=False).run_trees(
        list(range(max(1, n_tasks // 2))), fanout, seed=seed)
    votes = RolloutRunner("llm-marl/MathVote-v0", _mixed_agent(seed + 2, golds), progress=False).run_episodes(
        list(range(n_tasks)), n, seed=seed)
    return episodes, votes, trees
