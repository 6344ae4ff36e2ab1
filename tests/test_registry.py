import pytest

from llm_marl_envs.registry import Registry


def test_register_get_and_errors():
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1)

    @reg.register("f")
    def f():
        return 2

    assert reg.get("a") == 1 and reg["f"] is f
    assert reg.names() == ["a", "f"] and "a" in reg and len(reg) == 2
    reg.register("a", 1)  # same object again: fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 3)
    with pytest.raises(KeyError, match="registered: a, f"):
        reg.get("zzz")
    with pytest.raises(ValueError):
        reg.register("", 1)
