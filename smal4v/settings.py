"""Typed settings from plain mappings: every dataclass of knobs is built by :func:`build_settings`.

Config values arrive from YAML files, from Python, and from ``snakemake --config`` overrides,
whose nested values are all strings (Snakemake parses them with YAML's BaseLoader, so
``--config 'online={epochs: 5}'`` gives ``"5"``); plain YAML also reads ``6e-3`` as a string.
Each value is therefore converted to the field's declared type, and an unknown key or a value
that does not convert raises ValueError naming the setting, instead of training with a string
or silently with a default.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import asdict, fields, is_dataclass
from functools import partial
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NULL = {"null", "none", "~"}


def build_settings(cls: type[T], values: Mapping[str, Any] | T | None, where: str) -> T:
    """An instance of dataclass ``cls`` from ``values`` (a partial mapping; None = defaults; an
    instance is returned as is). A mapping given for a dataclass-valued field updates that
    field's default, so ``{"loss": {"mask_size": 96}}`` keeps the stage's other loss settings."""
    if values is None:
        return cls()
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ValueError(f"{where}: expected a mapping of settings, got {values!r}")
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    hints = get_type_hints(cls)
    default = cls()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        current = getattr(default, key)
        if is_dataclass(current) and isinstance(value, Mapping):
            value = {**asdict(current), **value}
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to type ``hint`` (bool, int, float, str, a Literal of strings,
    None-unions, list/tuple/dict of those, dataclasses); ValueError naming ``where`` if it does
    not convert."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        options = get_args(hint)
        if isinstance(value, str) and value.strip() in options:
            return value.strip()
        raise ValueError(f"{where}: expected one of {list(options)}, got {value!r}")
    if origin in (Union, types.UnionType):
        return _coerce_union(value, get_args(hint), where)
    if origin in (list, tuple):
        return _coerce_sequence(value, origin, get_args(hint), where)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = get_args(hint) or (Any, Any)
        return {coerce(k, key_type, where): coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if is_dataclass(hint):
        return build_settings(hint, value, where)  # type: ignore[arg-type]
    scalar = _SCALARS.get(hint)
    return value if scalar is None else scalar(value, where)


def _coerce_union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    if type(None) in options and (value is None or (isinstance(value, str) and value.strip().lower() in _NULL)):
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return coerce(value, option, where)
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {list(options)}")


def _coerce_sequence(value: Any, origin: type, args: tuple[Any, ...], where: str) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}: expected a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ValueError(f"{where}: expected {len(args)} values, got {list(value)!r}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    item = args[0] if args else Any
    items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{where}: expected true or false, got {value!r}")


def _to_number(value: Any, where: str, integer: bool) -> int | float:
    """An int (``integer``; floats only when whole) or a float, from a number or its text."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, str):
        try:
            value = int(value.strip()) if integer else float(value.strip())
        except ValueError:
            raise ValueError(f"{where}: expected {kind}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise ValueError(f"{where}: expected {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, (str, os.PathLike)):
        return str(value)
    raise ValueError(f"{where}: expected a string, got {value!r}")


_SCALARS = {bool: _to_bool, int: partial(_to_number, integer=True), float: partial(_to_number, integer=False),
            str: _to_str}
