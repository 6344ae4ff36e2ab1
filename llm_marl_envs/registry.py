"""One registry pattern for every kind of pluggable thing (envs, tasks, verifiers, topologies,
backends, estimators).

Register by name; re-registering a *different* object under a taken name raises; an unknown name
raises a ``KeyError`` that lists the valid names. Callers always dispatch through a registry.

A registry built with ``entry_points="<group>"`` also offers the installed packages' entry points of
that group (``[project.entry-points."<group>"]`` in a ``pyproject.toml``): their names are listed and
contained, and one is imported only when it is first asked for. A package registers its plugins this
way without the registry's package ever importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping for one kind of thing (``kind`` is used in error messages)."""

    def __init__(self, kind: str, *, entry_points: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_points
        self._items: dict[str, T] = {}
        self._entry_points: dict[str, Any] | None = None  # scanned once, on first need

    def _plugins(self) -> dict[str, Any]:
        """Installed entry points of this registry's group not registered yet, by name."""
        if self.entry_point_group is None:
            return {}
        if self._entry_points is None:
            found = metadata.entry_points(group=self.entry_point_group)
            self._entry_points = {ep.name: ep for ep in found}
        return {n: ep for n, ep in self._entry_points.items() if n not in self._items}

    def _load_plugin(self, name: str) -> bool:
        """Import the entry point ``name`` (if installed) and register what it names; True if it did."""
        ep = self._plugins().get(name)
        if ep is None:
            return False
        obj = ep.load()  # importing the plugin's module may register it itself: then that object stays
        if name not in self._items:
            self._add(name, obj)
        return True

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""
        if obj is None:
            def decorator(o: T) -> T:
                self._add(name, o)
                return o
            return decorator
        self._add(name, obj)
        return obj

    def _add(self, name: str, obj: T) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
        old = self._items.get(name)
        if old is not None and old is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered to {old!r}")
        self._items[name] = obj

    def get(self, name: str) -> T:
        if name not in self._items and isinstance(name, str):
            self._load_plugin(name)
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(self.names()) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {valid}") from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._plugins()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def names(self) -> list[str]:
        """Registered names and installed plugin names (plugins are not imported)."""
        return sorted({*self._items, *self._plugins()})

    def items(self) -> list[tuple[str, T]]:
        """Every ``(name, object)``, importing the installed plugins not loaded yet."""
        for name in list(self._plugins()):
            self._load_plugin(name)
        return sorted(self._items.items())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
