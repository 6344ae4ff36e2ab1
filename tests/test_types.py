import pytest

from llm_marl_envs import Message, Task, Verdict


def test_task_roundtrip_and_validation():
    t = Task(id="1", kind="code", prompt="p", tests=["assert f() == 1"], entry_point="f")
    assert isinstance(t.tests, tuple)
    assert Task.from_dict(t.to_dict()) == t
    with pytest.raises(ValueError):
        Task(id="2", kind="math", prompt="p")  # no gold answer
    with pytest.raises(ValueError):
        Task(id="3", kind="poetry", prompt="p", answer="x")  # type: ignore[arg-type]


def test_message_and_verdict_roundtrip():
    m = Message(agent="thinker_0", role="thinker", content="hi", turn=0, context="ctx")
    assert Message.from_dict(m.to_dict()) == m
    v = Verdict(correct=True, score=1.0, status="ok", extracted="4", detail="")
    assert Verdict.from_dict(v.to_dict()) == v
    with pytest.raises(ValueError):
        Verdict(correct=False, score=1.5, status="ok")
    with pytest.raises(ValueError):
        Verdict(correct=False, score=0.0, status="weird")  # type: ignore[arg-type]
