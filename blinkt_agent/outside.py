"""Tolerant readers for what came from outside (Nomad's JSON, its texts): never raise."""

from __future__ import annotations

from collections.abc import Mapping


def dig(obj: object, *path: str) -> object:
    """obj[path[0]][path[1]]..., or None as soon as a level is not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def one_line(text: str) -> str:
    """`text` with line breaks, tabs and other control characters made spaces."""
    return "".join(c if c.isprintable() else " " for c in text)
