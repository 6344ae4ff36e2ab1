"""Topologies as pure logic: schedules, visibility, team answers and the vote's tie rule; prompts."""

from __future__ import annotations

import pytest

from llm_marl_envs.topologies import (
    PROMPT_STYLES,
    TOPOLOGIES,
    Debate,
    Dyad,
    Pipeline,
    PromptTemplates,
    Turn,
    Voting,
    majority_vote,
    make_topology,
    render_prompt,
    resolve_templates,
)
from llm_marl_envs.topologies.prompts import split_prompt
from llm_marl_envs.types import Message


def key(text: str) -> str | None:
    """A toy answer key: the text after 'ans=' (None when absent)."""
    return text.split("ans=", 1)[1].strip() if "ans=" in text else None


def msgs(*pairs: tuple[str, str]) -> list[Message]:
    return [Message(agent, agent.rsplit("_", 1)[0], text, i) for i, (agent, text) in enumerate(pairs)]


def test_builtins_are_registered_and_validate():
    assert {"dyad", "voting", "pipeline", "debate"} <= set(TOPOLOGIES.names())
    for name in TOPOLOGIES.names():
        make_topology(name).validate()
    with pytest.raises(KeyError, match="dyad"):
        make_topology("no-such-topology")


def test_schedules_and_agent_names():
    assert Dyad().schedule() == (("thinker_0",), ("reasoner_0",))
    assert Voting(4).schedule() == (("solver_0", "solver_1", "solver_2", "solver_3"),)
    assert Pipeline(("a", "b")).agents() == ("a_0", "b_0")
    assert Debate(2, 3).schedule() == (("debater_0", "debater_1"),) * 3
    with pytest.raises(ValueError):
        Pipeline(("x", "x"))
    with pytest.raises(ValueError):
        Voting(0)


@pytest.mark.parametrize(
    ("votes", "winner", "rule"),
    [
        (["ans=1", "ans=2", "ans=2"], 1, "vote:majority"),
        (["ans=1", "ans=2"], 0, "vote:tie_earliest"),  # two voters disagree: the earlier wins
        (["ans=2", "ans=1", "ans=1", "ans=2"], 0, "vote:tie_earliest"),  # tie: earliest-submitted key
        (["nothing", "ans=3"], 1, "vote:majority"),  # an answer beats no answer
        (["nothing", "none either"], 0, "vote:no_answer"),  # nobody answers: the first message
        (["nothing", "nothing", "ans=5"], 2, "vote:majority"),  # no-answer majority never wins
    ],
)
def test_majority_vote_tie_rule(votes, winner, rule):
    messages = msgs(*[(f"solver_{i}", v) for i, v in enumerate(votes)])
    answer = majority_vote(messages, key)
    assert answer.message is messages[winner] and answer.rule == rule


def test_majority_vote_of_nobody():
    assert majority_vote([], key).message is None and majority_vote([], key).text == ""


def test_pipeline_team_answer_falls_back_when_the_checker_gives_no_answer():
    p = Pipeline()
    hist = [Turn(i, m) for i, m in enumerate(msgs(("planner_0", "plan"), ("solver_0", "ans=4"), ("checker_0", "looks fine")))]
    assert p.team_answer(hist, key).message.agent == "solver_0"
    hist[2] = Turn(2, Message("checker_0", "checker", "revised ans=5", 2))
    answer = p.team_answer(hist, key)
    assert answer.message.agent == "checker_0" and answer.key == "5"
    nothing = [Turn(i, m) for i, m in enumerate(msgs(("planner_0", "a"), ("solver_0", "b"), ("checker_0", "c")))]
    assert p.team_answer(nothing, key).message.agent == "checker_0"


def test_dyad_team_answer_is_strictly_the_last_message():
    hist = [Turn(0, Message("thinker_0", "thinker", "ans=1", 0)), Turn(1, Message("reasoner_0", "reasoner", "no idea", 1))]
    assert Dyad().team_answer(hist, key).message.agent == "reasoner_0"


def test_visibility_rules():
    m = msgs(("debater_0", "r1a"), ("debater_1", "r1b"), ("debater_0", "r2a"), ("debater_1", "r2b"))
    hist = [Turn(0, m[0]), Turn(0, m[1]), Turn(1, m[2]), Turn(1, m[3])]
    d = Debate(2, 3)
    assert d.visible("debater_0", 1, hist[:2]) == m[:2]
    assert d.visible("debater_1", 2, hist) == m[2:]  # only the previous round
    assert d.votes(hist + [Turn(2, m[0])]) == [m[0]]
    assert Dyad().visible("reasoner_0", 1, hist[:1]) == m[:1]
    assert Voting(2).visible("solver_0", 0, []) == []


def test_active_schedule_keeps_stage_numbers():
    assert Pipeline().active_schedule(frozenset({"solver_0"})) == ((0, ("planner_0",)), (2, ("checker_0",)))
    assert Debate(2, 2).active_schedule(frozenset({"debater_0"})) == ((0, ("debater_1",)), (1, ("debater_1",)))


def test_labels_use_roles_when_unique_and_agents_otherwise():
    assert Dyad().label("reasoner_0", "thinker_0") == "thinker"
    assert Voting(2).label("solver_0", "solver_1") == "solver_1"


def test_render_prompt_is_injective_and_reversible():
    a = render_prompt("sys\nline two", "x\n\ny")
    assert a == "sys\nline two\n\nx\n\ny" and split_prompt(a) == ("sys\nline two", "x\n\ny")
    assert render_prompt("sys", "x") != render_prompt("sys x", "") != render_prompt("", "sys\n\nx")
    with pytest.raises(ValueError, match="blank line"):
        PromptTemplates(system={"r": "a\n\nb"}, answer_format={}).system_text("r", "math")
    # trailing whitespace is stripped, so a system part never ends with a newline
    assert PromptTemplates(system={"r": "a\n"}, answer_format={}).system_text("r", "math") == "a"


def test_prompt_styles_and_overrides():
    assert {"default", "compact"} <= set(PROMPT_STYLES.names())
    compact = resolve_templates("compact")
    assert compact.system_text("thinker", "math") == "thinker"
    assert compact.user_text("2+3", [("thinker", "add")]) == "2+3\nthinker: add"
    default = resolve_templates(None)
    assert "\\boxed{}" in default.system_text("reasoner", "math")
    assert default.system_text("solver", "math") != default.system_text("solver", "math", "pipeline")
    # braces in model text and task text are never interpreted as template fields
    assert default.user_text("{prompt}", [("x", "{content} {label}")]).endswith("{content} {label}")
    custom = resolve_templates({"base": "compact", "system": {"thinker": "T"}})
    assert custom.system_text("thinker", "math") == "T" and custom.system_text("reasoner", "math") == "reasoner"
    assert resolve_templates(custom) is custom
    with pytest.raises(TypeError):
        resolve_templates(3)
