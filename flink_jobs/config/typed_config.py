"""Builds frozen dataclasses from parsed TOML, with errors that name the bad field.

Shared by every config file of the project (the stack, the pipelines), so a
typo or a wrong type is reported the same way everywhere: `file: a.b.c: reason`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from flink_jobs.errors import UserFacingError

T = TypeVar("T")


class ConfigError(UserFacingError):
    pass


# A file's top-level `extends = "other.toml"` (relative to the file): the other file's tables
# with this file's applied table by table (e.g. pipelines/fraud-secure.toml over fraud.toml).
EXTENDS = "extends"


def load_toml(path: Path, schema: type[T]) -> T:
    return build(schema, read_toml(path), source=str(path))


def read_toml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's tables, with what it extends resolved."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    base = raw.pop(EXTENDS, None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"{path}: {EXTENDS}: expected the path of a TOML file, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in _seen:
        raise ConfigError(f"{path}: {EXTENDS}: {base} extends itself, through {', '.join(map(str, _seen))}")
    return merged(read_toml(base_path, (*_seen, path.resolve())), raw)


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied table by table (a value that is not a table replaces)."""
    result = dict(base)
    for key, value in changes.items():
        current = result.get(key)
        is_table = isinstance(value, Mapping) and isinstance(current, Mapping)
        result[key] = merged(current, value) if is_table else value
    return result


def build(schema: type[T], raw: Any, *, source: str, where: str = "") -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where or 'top level'}: expected a table")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: {_join(where, unknown[0])}: unknown key (known: {', '.join(fields)})")
    values = {}
    for name, field in fields.items():
        path = _join(where, name)
        if name not in raw:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{source}: {path}: required key is missing")
            continue
        values[name] = _convert(hints[name], raw[name], source=source, where=path)
    instance = schema(**values)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        problem = validate()
        if problem:
            field_name, reason = problem
            raise ConfigError(f"{source}: {_join(where, field_name)}: {reason}")
    return instance


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _convert(hint: Any, value: Any, *, source: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, source=source, where=where)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value, source=source, where=where)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {where}: expected a list, got {value!r}")
        return tuple(_convert(item, v, source=source, where=f"{where}[{i}]") for i, v in enumerate(value))
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{source}: {where}: must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{source}: {where}: expected {hint.__name__}, got {value!r}")
    return value
