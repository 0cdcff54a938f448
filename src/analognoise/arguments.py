"""Notebook parameters as a reader types them: papermill's strings turned into values, checked
before any compute, with errors that name the parameter and show a form that works.

``papermill -p etas 0.1,0.2`` and ``-p etas [0,0.1]`` both arrive as text; ``-p seed abc`` as
text where a number belongs. Each function takes the parameter's name and its value as given
and returns the value in its proper type, or raises ValueError naming the parameter.
"""
from __future__ import annotations

import math

import yaml


def refuse(name: str, value, expected: str, example: str):
    """Raise ValueError naming the parameter, what it takes, and a form that works."""
    raise ValueError(f"parameter {name}={value!r}: expected {expected}; "
                     f"e.g. papermill ... -p {name} {example}, or -y \"{name}: {example}\"")


def _parsed(value):
    """Text as YAML would read it ("0.1" -> 0.1, "[0, 0.1]" -> [0, 0.1]); "None" (as Python
    writes it) -> None."""
    if not isinstance(value, str):
        return value
    if value.strip() in ("None", "none"):
        return None
    try:
        return yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        return value


def integer(name: str, value, minimum: int | None = None, optional: bool = False) -> int | None:
    """An integer (``"3"`` accepted), at least ``minimum``; None only where ``optional``."""
    value = _parsed(value)
    if value is None and optional:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        refuse(name, value, f"an integer{f' >= {minimum}' if minimum is not None else ''}"
              f"{' or None' if optional else ''}", "3" if minimum is None or minimum <= 3 else str(minimum))
    return value


def number(name: str, value, minimum: float | None = None) -> float:
    """A finite number (``"1e-3"`` accepted), at least ``minimum``."""
    value = _parsed(value)
    if isinstance(value, str):
        try:
            value = float(value)  # YAML reads "1e-3" (no dot) as text
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (minimum is not None and value < minimum):
        refuse(name, value, f"a number{f' >= {minimum}' if minimum is not None else ''}", "0.1")
    return float(value)


def flag(name: str, value) -> bool:
    """True or False (``"true"``, ``"false"``, ``"yes"``, ``"no"`` accepted)."""
    value = _parsed(value)
    if not isinstance(value, bool):
        refuse(name, value, "true or false", "true")
    return value


def choice(name: str, value, choices) -> str:
    """One of ``choices``."""
    if value not in choices:
        refuse(name, value, f"one of {', '.join(map(str, choices))}", str(next(iter(choices))))
    return value


def numbers(name: str, value, minimum: float | None = None, integers: bool = False) -> list:
    """A non-empty list of numbers: a list, one number, ``"[0, 0.1]"`` or ``"0.1,0.2"``."""
    value = _parsed(value)
    if isinstance(value, str) and "," in value:
        value = [_parsed(part) for part in value.split(",")]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    example = "[8,32]" if integers else "[0,0.1,0.2]"
    if not isinstance(value, (list, tuple)) or not value:
        refuse(name, value, f"a list of {'integers' if integers else 'numbers'}", example)
    check = integer if integers else number
    try:
        return [check(name, item, minimum) for item in value]
    except ValueError:
        refuse(name, value, f"a list of {'integers' if integers else 'numbers'}"
              f"{f' >= {minimum}' if minimum is not None else ''}", example)


def text(name: str, value, optional: bool = False) -> str | None:
    """Text (a path, a name); empty or None only where ``optional``."""
    if value in (None, "") and optional:
        return None
    if not isinstance(value, str) or not value:
        refuse(name, value, "text" + (" or None" if optional else ""), "data/runs/<run_id>")
    return value


def test_images(name: str, value) -> int | str | None:
    """Which test images: None (all), an integer (a class-balanced subset) or "first:N"."""
    from .data import check_test_subset

    value = _parsed(value)
    try:
        check_test_subset(value)
    except ValueError:
        refuse(name, value, "None (every test image), an integer >= 1 (a class-balanced subset) or "
              "first:N (the first N in official order)", "first:1000")
    return value


def placement(name: str, value):
    """A BN placement: "all", "none", "first:K", "last:K", "spread:K", or a list of site names
    ("[a, b]" accepted)."""
    parsed = _parsed(value) if isinstance(value, str) and value.lstrip().startswith("[") else value
    if not isinstance(parsed, (str, list, tuple)):
        refuse(name, value, "all, none, first:K or a list of BN site names", "first:3")
    return list(parsed) if isinstance(parsed, tuple) else parsed
