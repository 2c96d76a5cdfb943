"""Typed reads of the tenant's settings, with errors that name the key (``sdk/src/config.rs``).

A missing key is ``config_missing``, a value of the wrong shape
``config_invalid``, each with a message naming the key and what was
expected. Config is untrusted input: operators change it without a new
plugin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .output import PluginError
from .text import debug_string

T = TypeVar("T")

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class ConfigValue(Generic[T]):
    """How a setting's text becomes a value, and what it must look like."""

    expected: str
    parse: Callable[[str], T | None]


def _u32(text: str) -> int | None:
    if re.fullmatch(r"\+?\d+", text, re.ASCII) is None:
        return None
    n = int(text)
    return n if n <= 4_294_967_295 else None


def _i64(text: str) -> int | None:
    if re.fullmatch(r"[+-]?\d+", text, re.ASCII) is None:
        return None
    n = int(text)
    return n if I64_MIN <= n <= I64_MAX else None


def _f64(text: str) -> float | None:
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text, re.ASCII) is None:
        return None
    n = float(text)
    return n if math.isfinite(n) else None


def _bool(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text)


u32: ConfigValue[int] = ConfigValue("a whole number from 0 to 4294967295", _u32)
i64: ConfigValue[int] = ConfigValue("a whole number", _i64)
f64: ConfigValue[float] = ConfigValue("a finite number", _f64)
boolean: ConfigValue[bool] = ConfigValue("true or false", _bool)
text: ConfigValue[str] = ConfigValue("text", lambda t: t)


def missing(key: str) -> PluginError:
    """The error for a setting that is not set."""
    return PluginError("config_missing", f"config key `{key}` is not set")


def invalid(key: str, raw: str, expected: str) -> PluginError:
    """The error for a setting of the wrong shape."""
    return PluginError("config_invalid", f"config key `{key}` is {debug_string(raw)}, expected {expected}")


class Config:
    """The tenant's settings, from the host inside the sandbox or a dict in tests."""

    def __init__(self, source: Callable[[str], str | None]) -> None:
        self._source = source

    def get(self, key: str) -> str | None:
        """The raw text of a setting."""
        return self._source(key)

    def optional(self, key: str, kind: ConfigValue[T]) -> T | None:
        """A setting that may be absent (but must have the right shape if set)."""
        raw = self.get(key)
        if raw is None:
            return None
        value = kind.parse(raw.strip())
        if value is None:
            raise invalid(key, raw, kind.expected)
        return value

    def required(self, key: str, kind: ConfigValue[T]) -> T:
        """A setting that must be set."""
        value = self.optional(key, kind)
        if value is None:
            raise missing(key)
        return value

    def or_default(self, key: str, kind: ConfigValue[T], default: T) -> T:
        """A setting with a default for when it is absent."""
        value = self.optional(key, kind)
        return default if value is None else value

    def list(self, key: str, kind: ConfigValue[T]) -> list[T]:
        """A comma-separated list that must be set."""
        raw = self.get(key)
        if raw is None:
            raise missing(key)
        items = []
        for item in raw.split(","):
            value = kind.parse(item.strip())
            if value is None:
                raise invalid(key, raw, f"comma-separated items, each {kind.expected}")
            items.append(value)
        return items
