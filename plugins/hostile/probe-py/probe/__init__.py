"""What a Python plugin sees of the clock and randomness, and what happens when it misbehaves.

Config key ``mode``:

- ``clock-random``: tags what ``time.time()``, ``datetime.now()`` and ``random.random()`` give
- ``loop``: never returns
- ``memory``: allocates 1 MiB blocks until stopped
- ``recursion``: recurses without end (Python's recursion limit stops it)
- ``deep-recursion``: the same with the limit raised to a million: CPython
  keeps Python frames on the heap, so the memory limit stops it
- ``throw``: raises an exception (not a ``PluginError``)
- ``oversized``: answers ``count`` (100000) tags of empty strings
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime

from rulehost_sdk import Ctx, PluginError, Profile, Rules, Tag, text, u32


def recurse(n: int) -> int:
    return recurse(n + 1) + 1


class Probe(Rules):
    def tag(self, ctx: Ctx, profile: Profile) -> list[Tag]:
        mode = ctx.config.required("mode", text)

        def tag(group: str, name: str) -> Tag:
            return Tag(group, name).rule(f"probe.{group}").reason(mode)

        if mode == "clock-random":
            return [
                tag("time-time", str(round(time.time() * 1000))),
                tag("datetime-now", datetime.now(UTC).isoformat()),
                tag("random-1", repr(random.random())),
                tag("random-2", repr(random.random())),
            ]
        if mode == "loop":
            spins = 0
            while spins >= 0:
                spins = (spins + 1) % 1000
            return []
        if mode == "memory":
            blocks = []
            while True:
                blocks.append(bytearray(1 << 20))
        if mode in ("recursion", "deep-recursion"):
            if mode == "deep-recursion":
                sys.setrecursionlimit(1_000_000)
            return [tag("depth", str(recurse(0)))]
        if mode == "throw":
            raise RuntimeError(f"deliberate exception for customer {profile.customer_id}")
        if mode == "oversized":
            count = ctx.config.or_default("count", u32, 100_000)
            return [Tag("", "") for _ in range(count)]
        raise PluginError("config_invalid", f"no mode {mode}")
