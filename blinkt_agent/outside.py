"""Tolerant readers for JSON that came from outside (Nomad's API): never raise."""

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
