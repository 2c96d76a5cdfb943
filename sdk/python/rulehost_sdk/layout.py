"""The binary layout of contract rulehost:plugin@0.3.0, layout revision 1.

As ``layout/src/lib.rs`` defines it byte by byte: input (``RHI2``) and
findings (``RHF2``) frames read in place, answer (``RHO2``) frames written.
A frame is untrusted bytes: opening one checks the header, every section's
bounds, the scalars and stages; every other field is checked where it is
read (an atom names a string, a string's bytes lie in order and are
UTF-8, a span lies within its section, a value kind is known), and a field
that fails raises ``LayoutError``, which the session turns into
``invalid_input``. A rule pays only for what it reads (the TypeScript SDK
does the same; see README "Where the TypeScript and Python cost stands").
Events, read by nearly every rule, are unpacked a section at a time
(``InputFrame.event_records``: one ``struct.iter_unpack`` call for all of
them); other records are decoded field by field when asked for.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

REVISION = 1
"""The layout revision this SDK reads and writes."""
NONE = 0xFFFF_FFFF
"""An absent optional atom."""
NAME_BYTES = 128
"""The most bytes of UTF-8 a name in an answer may hold (a tag's group and
name, a score's name, a rule id), as the host checks answers
(``layout::NAME_BYTES``): a name made of input text must be checked against
it, or the host refuses the answer."""
NO_STAGE = 0xFF
ALIGN = 8
"""Where a writer starts each section: at a multiple of 8 bytes (``layout::ALIGN``)."""

Stage = Literal["introduction", "growth", "maturity", "dormancy", "churned", "reactivated"]
STAGES: tuple[Stage, ...] = ("introduction", "growth", "maturity", "dormancy", "churned", "reactivated")
"""The contract's lifecycle stages, in the order frames number them."""

Mode = Literal["live", "batch", "simulate", "shadow"]
MODES: tuple[Mode, ...] = ("live", "batch", "simulate", "shadow")

IDENTITY, ATTRIBUTE, EVENT, TAG_KEY, OFFER, SCORE_VALUE = 8, 16, 48, 8, 48, 16
TAG, SCORE, PROPOSAL, WAKE = 32, 24, 24, 24
INPUT_STRIDES = (1, 4, IDENTITY, ATTRIBUTE, EVENT, ATTRIBUTE, TAG_KEY, OFFER, 4, EVENT)
"""The record sizes of an input frame's sections (``layout/src/input.rs``)."""
FINDINGS_STRIDES = (1, 4, TAG_KEY, SCORE_VALUE)
# The sixth section holds wake-ups (contract 0.3.0).
ANSWER_STRIDES = (1, 4, TAG, SCORE, PROPOSAL, WAKE)

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_EVENT = struct.Struct("<8Iqq")
"""An event record: kind, channel, SKU, category (atoms), props start and
count, flags (bit 0: amount present), padding, at, amount."""


class LayoutError(ValueError):
    """A frame that does not read, with what is wrong."""


@dataclass(frozen=True)
class Section:
    """Where a section's records start and how many there are."""

    offset: int
    count: int


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Int:
    value: int


@dataclass(frozen=True)
class Float:
    value: float


@dataclass(frozen=True)
class Flag:
    value: bool


@dataclass(frozen=True)
class Time:
    """Milliseconds since the Unix epoch."""

    value: int


Value = Text | Int | Float | Flag | Time
"""A typed attribute or property value."""


def u32_at(b: bytes, at: int) -> int:
    return int(_U32.unpack_from(b, at)[0])


def i64_at(b: bytes, at: int) -> int:
    return int(_I64.unpack_from(b, at)[0])


class Strings:
    """A frame's strings: each checked (its bounds, its UTF-8) and decoded
    the first time a rule asks for it, then kept."""

    def __init__(self, frame: bytes, text: Section, ends: Section) -> None:
        self._text = frame[text.offset : text.offset + text.count]
        self._frame = frame
        self._ends = ends
        self._decoded: dict[int, str] = {}

    def __len__(self) -> int:
        return self._ends.count

    def get(self, atom: int) -> str:
        """The string behind ``atom``; raises ``LayoutError`` if it does not read."""
        cached = self._decoded.get(atom)
        if cached is not None:
            return cached
        if atom >= self._ends.count:
            raise LayoutError(f"string {atom} is named; there are {self._ends.count}")
        end = u32_at(self._frame, self._ends.offset + 4 * atom)
        start = 0 if atom == 0 else u32_at(self._frame, self._ends.offset + 4 * (atom - 1))
        if start > end or end > len(self._text):
            raise LayoutError(f"string {atom} spans bytes {start}..{end} of {len(self._text)}")
        try:
            text = self._text[start:end].decode("utf-8")
        except UnicodeDecodeError as e:
            # Ends inside a character, or starts inside one.
            raise LayoutError(f"string {atom} (bytes {start}..{end}) is not UTF-8: {e.reason}") from None
        self._decoded[atom] = text
        return text


def _open(frame: bytes, magic: bytes, scalars: int, strides: tuple[int, ...]) -> list[Section]:
    kind = magic.decode()
    if len(frame) < 8 or frame[:4] != magic:
        raise LayoutError(f"not a {kind} frame (magic)")
    revision = int(_U16.unpack_from(frame, 4)[0])
    if revision != REVISION:
        raise LayoutError(f"{kind} frame of layout revision {revision}; this reads {REVISION}")
    count = int(_U16.unpack_from(frame, 6)[0])
    if count < len(strides):
        raise LayoutError(f"{kind} frame with {count} sections; {len(strides)} are needed")
    table = 8 + scalars
    header = table + 8 * count
    if len(frame) < header:
        raise LayoutError(f"{kind} frame of {len(frame)} bytes is shorter than its header")
    sections = []
    for i, stride in enumerate(strides):
        offset = u32_at(frame, table + 8 * i)
        records = u32_at(frame, table + 8 * i + 4)
        if offset < header or offset + records * stride > len(frame):
            raise LayoutError(
                f"{kind} section {i} ({records} records of {stride} bytes at {offset}) "
                f"is outside the frame's {len(frame)} bytes"
            )
        sections.append(Section(offset, records))
    return sections


def _check_stage(stage: int, what: str) -> None:
    if stage != NO_STAGE and stage >= len(STAGES):
        raise LayoutError(f"{what}: {stage} is not a lifecycle stage")


def _stage_at(frame: bytes, at: int) -> Stage | None:
    index = frame[at]
    return STAGES[index] if index < len(STAGES) else None


class InputFrame:
    """The input frame, checked. Field offsets follow ``layout/src/input.rs``."""

    def __init__(self, frame: bytes) -> None:
        frame = bytes(frame)
        sections = _open(frame, b"RHI2", 32, INPUT_STRIDES)
        text, ends, identities, attributes, events, props, prior_tags, offers, channels, trigger = sections
        s = 8
        mode = frame[s + 24]
        if mode >= len(MODES):
            raise LayoutError(f"input mode {mode} is not known")
        _check_stage(frame[s + 25], "input prior stage")
        self.frame = frame
        self.now = i64_at(frame, s)
        self.seed = int(_U64.unpack_from(frame, s + 8)[0])
        self.tz_offset_minutes = int(_I32.unpack_from(frame, s + 16)[0])
        self.customer_id = u32_at(frame, s + 20)
        self.mode: Mode = MODES[mode]
        self.prior_stage = _stage_at(frame, s + 25)
        self.strings = Strings(frame, text, ends)
        self.identities, self.attributes, self.events, self.props = identities, attributes, events, props
        self.prior_tags, self.offers, self.offer_channels, self.trigger = prior_tags, offers, channels, trigger
        if trigger.count > 1:
            raise LayoutError("an input has at most one trigger")
        if self.customer_id >= len(self.strings):
            raise LayoutError("the customer id names no string")
        self._event_records: list[tuple[int, ...]] | None = None

    @property
    def event_records(self) -> list[tuple[int, ...]]:
        """Every event's record as a tuple (see ``_EVENT``), unpacked the first time it is asked for."""
        if self._event_records is None:
            start = self.events.offset
            section = memoryview(self.frame)[start : start + self.events.count * EVENT]
            self._event_records = list(_EVENT.iter_unpack(section))
        return self._event_records

    def event_record(self, at: int) -> tuple[int, ...]:
        """The record of the event that starts at byte ``at`` (of the events or the trigger)."""
        return _EVENT.unpack_from(self.frame, at)

    def span(self, what: str, section: Section, stride: int, start: int, count: int) -> Section:
        """The records ``start..start + count`` of ``section``, or a ``LayoutError`` naming ``what``."""
        if start + count > section.count:
            raise LayoutError(f"{what} spans {start}..+{count} of {section.count} records")
        return Section(section.offset + start * stride, count)

    def text(self, atom: int) -> str:
        return self.strings.get(atom)

    def optional_text(self, at: int) -> str | None:
        atom = u32_at(self.frame, at)
        return None if atom == NONE else self.text(atom)

    def event_at(self, section: Section, i: int) -> int:
        """Where event ``i`` of ``section`` (the events or the trigger) starts."""
        return section.offset + i * EVENT

    def event_time(self, at: int) -> int:
        return i64_at(self.frame, at + 32)

    def attribute_key(self, section: Section, i: int) -> str:
        """The key of the ``i``th attribute of ``section``."""
        return self.text(u32_at(self.frame, section.offset + i * ATTRIBUTE))

    def attribute(self, section: Section, i: int) -> tuple[str, Value]:
        """The ``i``th attribute of ``section`` (attributes or a run of props)."""
        at = section.offset + i * ATTRIBUTE
        key = self.text(u32_at(self.frame, at))
        kind = self.frame[at + 4]
        value: Value
        if kind == 0:
            value = Text(self.text(u32_at(self.frame, at + 8)))
        elif kind == 1:
            value = Int(i64_at(self.frame, at + 8))
        elif kind == 2:
            value = Float(float(_F64.unpack_from(self.frame, at + 8)[0]))
        elif kind == 3:
            value = Flag(int(_U64.unpack_from(self.frame, at + 8)[0]) != 0)
        elif kind == 4:
            value = Time(i64_at(self.frame, at + 8))
        else:
            raise LayoutError(f"{key}: value kind {kind} is not known")
        return key, value

    def pair(self, section: Section, i: int) -> tuple[str, str]:
        """Record ``i`` of a section of atom pairs (identities, prior tags)."""
        at = section.offset + i * 8
        return self.text(u32_at(self.frame, at)), self.text(u32_at(self.frame, at + 4))


class FindingsFrame:
    """The findings frame, checked."""

    def __init__(self, frame: bytes) -> None:
        frame = bytes(frame)
        text, ends, tags, scores = _open(frame, b"RHF2", 8, FINDINGS_STRIDES)
        _check_stage(frame[8], "findings stage")
        strings = Strings(frame, text, ends)
        self.stage = _stage_at(frame, 8)
        self.tags = [
            (strings.get(u32_at(frame, at)), strings.get(u32_at(frame, at + 4)))
            for at in range(tags.offset, tags.offset + tags.count * TAG_KEY, TAG_KEY)
        ]
        self.scores = [
            (strings.get(u32_at(frame, at)), float(_F64.unpack_from(frame, at + 8)[0]))
            for at in range(scores.offset, scores.offset + scores.count * SCORE_VALUE, SCORE_VALUE)
        ]


class FrameWriter:
    """Writes a frame of any kind: strings as added, records by section, the header in front."""

    def __init__(self, magic: bytes, strides: tuple[int, ...]) -> None:
        self._magic = magic
        self._strides = strides
        self.sections = [bytearray() for _ in strides]

    def text(self, s: str) -> int:
        """Adds a string; returns its atom."""
        atom = len(self.sections[1]) // 4
        self.sections[0] += s.encode("utf-8")
        self.sections[1] += _U32.pack(len(self.sections[0]))
        return atom

    def count(self, i: int) -> int:
        return len(self.sections[i]) // self._strides[i]

    def finish(self, scalars: bytes) -> bytes:
        """The frame, each section from a multiple of ``ALIGN`` bytes (``layout::ALIGN``)."""
        header = 8 + len(scalars) + 8 * len(self.sections)
        out = bytearray(self._magic)
        out += _U16.pack(REVISION) + _U16.pack(len(self.sections)) + scalars
        offset = header
        offsets = []
        for section, stride in zip(self.sections, self._strides, strict=True):
            offset = -(-offset // ALIGN) * ALIGN
            offsets.append(offset)
            out += _U32.pack(offset) + _U32.pack(len(section) // stride)
            offset += len(section)
        for section, at in zip(self.sections, offsets, strict=True):
            out += bytes(at - len(out))
            out += section
        return bytes(out)


def pack_u32(*values: int) -> bytes:
    return b"".join(_U32.pack(v) for v in values)


def pack_i64(value: int) -> bytes:
    return _I64.pack(value)


def pack_f64(value: float) -> bytes:
    return _F64.pack(value)


class AnswerWriter:
    """An answer frame's writer: what one stage returns (``reset`` empties it for the next)."""

    def __init__(self) -> None:
        self._frame = FrameWriter(b"RHO2", ANSWER_STRIDES)
        self._stage: tuple[int, int, int] | None = None

    def reset(self) -> None:
        for section in self._frame.sections:
            section.clear()
        self._stage = None

    def tag(self, group: str, name: str, reason: str, rule_id: str, expires_at: int | None) -> None:
        atoms = [self._frame.text(s) for s in (group, name, reason, rule_id)]
        flags = 0 if expires_at is None else 1
        self._frame.sections[2] += pack_u32(*atoms, flags, 0) + pack_i64(expires_at or 0)

    def score(self, name: str, value: float, reason: str, rule_id: str) -> None:
        atoms = [self._frame.text(s) for s in (name, reason, rule_id)]
        self._frame.sections[3] += pack_u32(*atoms, 0) + pack_f64(value)

    def proposal(self, offer_id: str, channel: str, reason: str, rule_id: str, score: float) -> None:
        atoms = [self._frame.text(s) for s in (offer_id, channel, reason, rule_id)]
        self._frame.sections[4] += pack_u32(*atoms) + pack_f64(score)

    def stage(self, stage: Stage, reason: str, rule_id: str) -> None:
        self._stage = (STAGES.index(stage), self._frame.text(reason), self._frame.text(rule_id))

    def wake(self, key: str, at: int | None, reason: str | None) -> None:
        """A wake-up at ``at`` (ms since the epoch), or ``None`` to clear the key's."""
        k = self._frame.text(key)
        r = NONE if at is None or reason is None else self._frame.text(reason)
        self._frame.sections[5] += pack_u32(k, r, 1 if at is None else 0, 0) + pack_i64(at or 0)

    def finish(self) -> bytes:
        stage, reason, rule = self._stage or (NO_STAGE, NONE, NONE)
        return self._frame.finish(bytes([stage, 0, 0, 0]) + pack_u32(reason, rule, 0))
