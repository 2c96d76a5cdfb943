"""Unit-testing rules under pytest (``sdk/src/testing.rs`` and ``native.rs``).

Build an input with ``TestInput``, findings with ``TestFindings``, run the
stages with ``TestSession`` against a ``TestHost`` whose config you set, and
read the answers back. The frames are the ones the host would send; the
session is the one that runs in the sandbox.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from .kinds import PURCHASE, REFUND
from .layout import (
    ANSWER_STRIDES,
    FINDINGS_STRIDES,
    INPUT_STRIDES,
    MODES,
    NO_STAGE,
    NONE,
    STAGES,
    Flag,
    Float,
    FrameWriter,
    Int,
    Mode,
    Section,
    Stage,
    Strings,
    Text,
    Time,
    Value,
    i64_at,
    pack_f64,
    pack_i64,
    pack_u32,
    u32_at,
)
from .session import Level, Rules, Session
from .time import parse_rfc3339

TestValue = str | int | float | bool | Time


def _time(at: str) -> int:
    ms = parse_rfc3339(at)
    if ms is None:
        raise ValueError(f"not an RFC 3339 time: {at!r}")
    return ms


def _value(v: TestValue) -> Value:
    if isinstance(v, Time):
        return v
    if isinstance(v, bool):
        return Flag(v)
    if isinstance(v, int):
        return Int(v)
    if isinstance(v, float):
        return Float(v)
    return Text(v)


class TestEvent:
    """An event for ``TestInput``."""

    __test__ = False

    def __init__(self, kind: str, at: str | int) -> None:
        self.kind = kind
        self.at = at if isinstance(at, int) else _time(at)
        self.channel_name: str | None = None
        self.amount: int | None = None
        self.sku_name: str | None = None
        self.category_name: str | None = None
        self.properties: list[tuple[str, Value]] = []

    def channel(self, channel: str) -> Self:
        self.channel_name = channel
        return self

    def amount_minor(self, amount: int) -> Self:
        self.amount = amount
        return self

    def sku(self, sku: str) -> Self:
        self.sku_name = sku
        return self

    def category(self, category: str) -> Self:
        self.category_name = category
        return self

    def prop(self, key: str, value: TestValue) -> Self:
        self.properties.append((key, _value(value)))
        return self


class TestOffer:
    """An offer for ``TestInput``."""

    __test__ = False

    def __init__(self, offer_id: str, kind: str) -> None:
        self.id = offer_id
        self.kind = kind
        self.channel_list: list[str] = []
        self.value_minor = 0
        self.priority_value = 0
        self.starts_at: int | None = None
        self.ends_at: int | None = None

    def channels(self, *channels: str) -> Self:
        self.channel_list = list(channels)
        return self

    def value(self, value_minor: int) -> Self:
        self.value_minor = value_minor
        return self

    def priority(self, priority: int) -> Self:
        self.priority_value = priority
        return self

    def valid(self, starts_at: str | None, ends_at: str | None) -> Self:
        self.starts_at = None if starts_at is None else _time(starts_at)
        self.ends_at = None if ends_at is None else _time(ends_at)
        return self


class TestInput:
    """A decision's input, built up call by call."""

    __test__ = False

    def __init__(self, now: str) -> None:
        self.now = _time(now)
        self.tz_offset_minutes = 0
        self.seed_value = 0
        self.mode_value: Mode = "live"
        self.customer_id = "test-customer"
        self.identity_list: list[tuple[str, str]] = []
        self.attributes: list[tuple[str, Value]] = []
        self.event_list: list[TestEvent] = []
        self.trigger_event: TestEvent | None = None
        self.prior_tags: list[tuple[str, str]] = []
        self.prior_stage_value: Stage | None = None
        self.offers: list[TestOffer] = []

    @staticmethod
    def at(now: str) -> TestInput:
        """An input at ``now`` (RFC 3339), UTC, seed 0, live, customer "test-customer"."""
        return TestInput(now)

    def tz(self, minutes: int) -> Self:
        self.tz_offset_minutes = minutes
        return self

    def seed(self, seed: int) -> Self:
        self.seed_value = seed
        return self

    def mode(self, mode: Mode) -> Self:
        self.mode_value = mode
        return self

    def customer(self, customer_id: str) -> Self:
        self.customer_id = customer_id
        return self

    def identity(self, kind: str, identity: str) -> Self:
        self.identity_list.append((kind, identity))
        return self

    def attr(self, key: str, value: TestValue) -> Self:
        self.attributes.append((key, _value(value)))
        return self

    def event(self, event: TestEvent) -> Self:
        """Adds an event in time order (after any at the same instant)."""
        at = 0
        while at < len(self.event_list) and self.event_list[at].at <= event.at:
            at += 1
        self.event_list.insert(at, event)
        return self

    def purchase(self, at: str, amount_minor: int) -> Self:
        return self.event(TestEvent(PURCHASE, at).amount_minor(amount_minor))

    def refund(self, at: str, amount_minor: int) -> Self:
        return self.event(TestEvent(REFUND, at).amount_minor(amount_minor))

    def trigger(self, event: TestEvent) -> Self:
        self.trigger_event = event
        return self

    def prior_tag(self, group: str, name: str) -> Self:
        self.prior_tags.append((group, name))
        return self

    def prior_stage(self, stage: Stage) -> Self:
        self.prior_stage_value = stage
        return self

    def offer(self, offer: TestOffer) -> Self:
        self.offers.append(offer)
        return self

    def to_frame(self) -> bytes:
        """The input frame (``RHI2``) the host would send."""
        w = FrameWriter(b"RHI2", INPUT_STRIDES)
        customer = w.text(self.customer_id)
        for kind, identity in self.identity_list:
            w.sections[2] += pack_u32(w.text(kind), w.text(identity))
        for key, value in self.attributes:
            _write_attribute(w, 3, key, value)
        for event in self.event_list:
            _write_event(w, 4, event)
        if self.trigger_event is not None:
            _write_event(w, 9, self.trigger_event)
        for group, name in self.prior_tags:
            w.sections[6] += pack_u32(w.text(group), w.text(name))
        for offer in self.offers:
            start = w.count(8)
            for channel in offer.channel_list:
                w.sections[8] += pack_u32(w.text(channel))
            flags = (0 if offer.starts_at is None else 1) | (0 if offer.ends_at is None else 2)
            w.sections[7] += (
                pack_u32(w.text(offer.id), w.text(offer.kind), start, len(offer.channel_list))
                + struct.pack("<i", offer.priority_value)
                + pack_u32(flags)
                + pack_i64(offer.value_minor)
                + pack_i64(offer.starts_at or 0)
                + pack_i64(offer.ends_at or 0)
            )
        prior = NO_STAGE if self.prior_stage_value is None else STAGES.index(self.prior_stage_value)
        scalars = struct.pack(
            "<qQiIBB6x",
            self.now,
            self.seed_value,
            self.tz_offset_minutes,
            customer,
            MODES.index(self.mode_value),
            prior,
        )
        return w.finish(scalars)


def _write_attribute(w: FrameWriter, section: int, key: str, value: Value) -> None:
    atom = w.text(key)
    if isinstance(value, Text):
        kind, payload = 0, struct.pack("<Q", w.text(value.value))
    elif isinstance(value, Int):
        kind, payload = 1, pack_i64(value.value)
    elif isinstance(value, Float):
        kind, payload = 2, pack_f64(value.value)
    elif isinstance(value, Flag):
        kind, payload = 3, struct.pack("<Q", int(value.value))
    else:
        kind, payload = 4, pack_i64(value.value)
    w.sections[section] += pack_u32(atom) + bytes([kind, 0, 0, 0]) + payload


def _write_event(w: FrameWriter, section: int, event: TestEvent) -> None:
    start = w.count(5)
    for key, value in event.properties:
        _write_attribute(w, 5, key, value)
    props = w.count(5) - start

    def optional(s: str | None) -> int:
        return NONE if s is None else w.text(s)

    channel, sku, category = optional(event.channel_name), optional(event.sku_name), optional(event.category_name)
    kind = w.text(event.kind)
    flags = 0 if event.amount is None else 1
    w.sections[section] += (
        pack_u32(kind, channel, sku, category, start, props, flags, 0)
        + pack_i64(event.at)
        + pack_i64(event.amount or 0)
    )


class TestFindings:
    """The findings before a ``score`` or ``target`` stage."""

    __test__ = False

    def __init__(self) -> None:
        self.tags: list[tuple[str, str]] = []
        self.scores: list[tuple[str, float]] = []
        self.stage_value: Stage | None = None

    def tag(self, group: str, name: str) -> Self:
        self.tags.append((group, name))
        return self

    def score(self, name: str, value: float) -> Self:
        self.scores.append((name, value))
        return self

    def stage(self, stage: Stage) -> Self:
        self.stage_value = stage
        return self

    def to_frame(self) -> bytes:
        """The findings frame (``RHF2``) the host would send."""
        w = FrameWriter(b"RHF2", FINDINGS_STRIDES)
        for group, name in self.tags:
            w.sections[2] += pack_u32(w.text(group), w.text(name))
        for name, value in self.scores:
            w.sections[3] += pack_u32(w.text(name), 0) + pack_f64(value)
        stage = NO_STAGE if self.stage_value is None else STAGES.index(self.stage_value)
        return w.finish(bytes([stage]) + bytes(7))


class TestHost:
    """A host for tests: config from a dict, log lines kept."""

    __test__ = False

    def __init__(self, settings: dict[str, str | int | bool] | None = None) -> None:
        self.settings = {k: _config_text(v) for k, v in (settings or {}).items()}
        self.logs: list[tuple[Level, str]] = []

    def log(self, level: Level, message: str) -> None:
        self.logs.append((level, message))

    def config(self, key: str) -> str | None:
        return self.settings.get(key)


def _config_text(v: str | int | bool) -> str:
    """A setting as the host hands it over: the JSON text of numbers and booleans."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@dataclass
class Answer:
    """An answer frame (``RHO2``) read back as plain data."""

    tags: list[dict[str, object]] = field(default_factory=list)
    scores: list[dict[str, object]] = field(default_factory=list)
    stage: dict[str, object] | None = None
    proposals: list[dict[str, object]] = field(default_factory=list)
    wakes: list[dict[str, object]] = field(default_factory=list)
    """Wake-ups (contract 0.3.0): ``at`` None clears the key's."""


def read_answer(frame: bytes) -> Answer:
    """Reads an answer frame as the host does, minus its policy checks."""
    if frame[:4] != b"RHO2":
        raise ValueError("not an answer frame")
    table = 8 + 16

    def section(i: int) -> Section:
        return Section(u32_at(frame, table + 8 * i), u32_at(frame, table + 8 * i + 4))

    strings = Strings(frame, section(0), section(1))

    def text(at: int) -> str:
        return strings.get(u32_at(frame, at))

    def rows(i: int, stride: int, row: Callable[[int], dict[str, object]]) -> list[dict[str, object]]:
        s = section(i)
        return [row(s.offset + k * stride) for k in range(s.count)]

    def f64(at: int) -> float:
        return float(struct.unpack_from("<d", frame, at)[0])

    _, _, tag, score, proposal, wake = ANSWER_STRIDES

    def wake_row(at: int) -> dict[str, object]:
        clear = u32_at(frame, at + 8) & 1
        return {
            "key": text(at),
            "at": None if clear else i64_at(frame, at + 16),
            "reason": None if clear else text(at + 4),
        }

    stage_index = frame[8]
    return Answer(
        tags=rows(
            2,
            tag,
            lambda at: {
                "group": text(at),
                "name": text(at + 4),
                "reason": text(at + 8),
                "rule_id": text(at + 12),
                "expires_at": i64_at(frame, at + 24) if u32_at(frame, at + 16) & 1 else None,
            },
        ),
        scores=rows(
            3,
            score,
            lambda at: {"name": text(at), "reason": text(at + 4), "rule_id": text(at + 8), "value": f64(at + 16)},
        ),
        stage=None
        if stage_index == NO_STAGE
        else {"stage": STAGES[stage_index], "reason": text(12), "rule_id": text(16)},
        proposals=rows(
            4,
            proposal,
            lambda at: {
                "offer_id": text(at),
                "channel": text(at + 4),
                "reason": text(at + 8),
                "rule_id": text(at + 12),
                "score": f64(at + 16),
            },
        ),
        wakes=rows(5, wake, wake_row) if int.from_bytes(frame[6:8], "little") > 5 else [],
    )


class TestSession:
    """A session run natively, its answers read back as plain data."""

    __test__ = False

    def __init__(self, plugin: Callable[[], Rules], input: TestInput | bytes, host: TestHost | None = None) -> None:
        frame = input.to_frame() if isinstance(input, TestInput) else input
        self._session = Session(plugin, host or TestHost(), frame)

    def tag(self) -> list[dict[str, object]]:
        return read_answer(self._session.tag()).tags

    def score(self, findings: TestFindings | None = None) -> Answer:
        return read_answer(self._session.score((findings or TestFindings()).to_frame()))

    def target(self, findings: TestFindings | None = None) -> list[dict[str, object]]:
        return read_answer(self._session.target((findings or TestFindings()).to_frame())).proposals

    def target_answer(self, findings: TestFindings | None = None) -> Answer:
        """The target stage's whole answer: its proposals and wake-ups."""
        return read_answer(self._session.target((findings or TestFindings()).to_frame()))
