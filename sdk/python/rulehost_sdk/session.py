"""One decision inside a plugin (``sdk/src/session.rs``).

The host creates a session per plugin per decision, so the input crosses
into the guest once; each stage reads it in place and writes its answer
frame. The same ``Session`` runs under pytest, so tests run exactly the
code the guest runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, Literal, ParamSpec, Protocol, TypeVar

from .config import Config
from .layout import AnswerWriter, FindingsFrame, InputFrame, LayoutError, Mode, Text
from .output import PluginError, Proposal, Scoring, Tag
from .time import LocalDate, local_date
from .views import Event, Findings, Offers, Profile

Level = Literal["trace", "debug", "info", "warn", "error"]
"""Severity of a log line (the contract's ``level``)."""


class Host(Protocol):
    """What the host offers a plugin: the contract's ``host`` interface."""

    def log(self, level: Level, message: str) -> None: ...

    def config(self, key: str) -> str | None: ...


TIMER = "timer"
"""The kind of the trigger of a decision a wake-up starts."""


@dataclass(frozen=True)
class Woken:
    """The wake-up that started a decision (see ``Ctx.woken``)."""

    key: str
    reason: str
    due_at: int
    """When it was due (ms since the epoch)."""


class Ctx:
    """The decision's context: when, where, why, and the host's services."""

    def __init__(self, frame: InputFrame, host: Host) -> None:
        self._frame = frame
        self._host = host
        self.config = Config(host.config)
        self._wakes: list[tuple[str, int | None, str | None]] = []

    @property
    def now(self) -> int:
        """The decision's time (milliseconds since the epoch)."""
        return self._frame.now

    @property
    def tz_offset_minutes(self) -> int:
        return self._frame.tz_offset_minutes

    @property
    def today(self) -> LocalDate:
        """The tenant's local date at ``now``."""
        return local_date(self.now, self.tz_offset_minutes)

    @property
    def seed(self) -> int:
        return self._frame.seed

    @property
    def mode(self) -> Mode:
        return self._frame.mode

    @property
    def trigger(self) -> Event | None:
        t = self._frame.trigger
        return None if t.count == 0 else Event(self._frame, self._frame.event_at(t, 0))

    def log(self, level: Level, message: str) -> None:
        """Appends a line to this decision's log."""
        self._host.log(level, message)

    def wake_at(self, key: str, at: int, reason: str) -> None:
        """Asks the host to run a decision for this customer again at ``at`` (ms since the epoch).

        Under ``key`` (a later wake-up of the key replaces it), with ``reason``
        in the explanation: at least a minute and at most 400 days after
        ``now``, at most 8 per stage; only a committed decision sets it
        (``Ctx::wake_at`` of the Rust SDK).
        """
        self._wakes.append((key, at, reason))

    def clear_wake(self, key: str) -> None:
        """Clears this customer's wake-up of ``key``, if one is set."""
        self._wakes.append((key, None, None))

    @property
    def woken(self) -> Woken | None:
        """The wake-up that started this decision, if one did."""
        t = self.trigger
        if t is None or not t.is_kind(TIMER):
            return None

        def text(key: str) -> str:
            v = t.prop(key)
            return v.value if isinstance(v, Text) else ""

        return Woken(key=text("key"), reason=text("reason"), due_at=t.at)

    def _write_wakes(self, out: AnswerWriter) -> None:
        for key, at, reason in self._wakes:
            out.wake(key, at, reason)
        self._wakes.clear()


class Rules:
    """A brand's rules: override any of the three stages (the others answer nothing).

    A new instance serves each decision, so state kept on it (settings read
    once for the three stages) lives as long as the decision.
    """

    def tag(self, ctx: Ctx, profile: Profile) -> list[Tag]:
        return []

    def score(self, ctx: Ctx, profile: Profile, findings: Findings) -> Scoring:
        return Scoring()

    def target(self, ctx: Ctx, profile: Profile, findings: Findings, offers: Offers) -> list[Proposal]:
        return []


P = ParamSpec("P")
S = TypeVar("S")


def _reading(stage: Callable[Concatenate[S, P], bytes]) -> Callable[Concatenate[S, P], bytes]:
    """A stage whose reads of the frame fail as ``invalid_input``: a field is
    checked where it is read (see ``layout``)."""

    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> bytes:
        try:
            return stage(self, *args, **kwargs)
        except LayoutError as e:
            raise PluginError("invalid_input", f"the host sent an input that does not read: {e}") from None

    return run


class Session:
    """One decision of one plugin: the frame read once, one context and one
    profile for the three stages, one answer writer emptied for each."""

    def __init__(self, plugin: Callable[[], Rules], host: Host, input: bytes) -> None:
        self._rules = plugin()
        self._host = host
        frame: InputFrame | PluginError
        try:
            frame = InputFrame(input)
            self._ctx, self._profile = Ctx(frame, host), Profile(frame)
        except LayoutError as e:
            frame = PluginError("invalid_input", f"the host sent an input that does not read: {e}")
        else:
            # Deterministic like a Rust plugin: ``random`` draws from the
            # decision's seed (in the sandbox, the clocks read its ``now``).
            random.seed(frame.seed)
        self._input = frame
        self._out = AnswerWriter()

    def _frame(self) -> InputFrame:
        if isinstance(self._input, PluginError):
            raise self._input
        return self._input

    def _answer(self) -> AnswerWriter:
        # Wake-ups asked for by a stage that failed are not this one's.
        self._ctx._wakes.clear()
        self._out.reset()
        return self._out

    @_reading
    def tag(self) -> bytes:
        self._frame()
        out, ctx = self._answer(), self._ctx
        for t in self._rules.tag(ctx, self._profile):
            out.tag(t.group, t.name, t.reason_text, t.rule_id, t.expires_at)
        ctx._write_wakes(out)
        return out.finish()

    @_reading
    def score(self, findings: bytes) -> bytes:
        self._frame()
        out, ctx = self._answer(), self._ctx
        scoring = self._rules.score(ctx, self._profile, _findings(findings))
        for s in scoring.scores:
            out.score(s.name, s.value, s.reason_text, s.rule_id)
        if scoring.stage is not None:
            out.stage(scoring.stage.stage, scoring.stage.reason_text, scoring.stage.rule_id)
        ctx._write_wakes(out)
        return out.finish()

    @_reading
    def target(self, findings: bytes) -> bytes:
        frame = self._frame()
        out, ctx = self._answer(), self._ctx
        for p in self._rules.target(ctx, self._profile, _findings(findings), Offers(frame)):
            out.proposal(p.offer_id, p.channel, p.reason_text, p.rule_id, p.score_value)
        ctx._write_wakes(out)
        return out.finish()


def _findings(frame: bytes) -> Findings:
    try:
        return Findings(FindingsFrame(frame))
    except LayoutError as e:
        raise PluginError("invalid_input", f"the host sent findings that do not read: {e}") from None
