"""The glue between the contract's bindings and a ``Rules`` class.

``rulehost build`` generates the contract's bindings (componentize-py's
``wit_world``) and a module ``rules`` holding ``Session =
session_class(MyRules)``: the contract's ``session`` resource, which runs
the SDK's ``Session`` — the same code the tests run — with the host's
``log`` and ``config``. A ``PluginError`` crosses as the contract's
``plugin-error``; any other exception is logged with its traceback and
stops the decision as a trap.

The bindings exist only inside the build, so they are imported by name
here and typed loosely.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from .output import PluginError
from .session import Level, Rules, Session

T = TypeVar("T")


def session_class(plugin: Callable[[], Rules]) -> type:
    """The contract's ``session`` resource for ``plugin``."""
    host: Any = importlib.import_module("wit_world.imports.host")
    contract: Any = importlib.import_module("wit_world.exports.rules")
    types: Any = importlib.import_module("componentize_py_types")
    levels: dict[str, Any] = {
        "trace": host.Level.TRACE,
        "debug": host.Level.DEBUG,
        "info": host.Level.INFO,
        "warn": host.Level.WARN,
        "error": host.Level.ERROR,
    }

    class GuestHost:
        def log(self, level: Level, message: str) -> None:
            host.log(levels[level], message)

        def config(self, key: str) -> str | None:
            value: str | None = host.config(key)
            return value

    guest_host = GuestHost()

    def wire(stage: Callable[[], T]) -> T:
        try:
            return stage()
        except PluginError as e:
            raise types.Err(contract.PluginError(e.code, e.message)) from None
        except Exception:
            guest_host.log("error", traceback.format_exc())
            raise

    class GuestSession(contract.Session):  # type: ignore[misc]
        def __init__(self, input: bytes) -> None:
            self._session = wire(lambda: Session(plugin, guest_host, input))

        def tag(self) -> bytes:
            return wire(self._session.tag)

        def score(self, findings: bytes) -> bytes:
            return wire(lambda: self._session.score(findings))

        def target(self, findings: bytes) -> bytes:
            return wire(lambda: self._session.target(findings))

    return GuestSession
