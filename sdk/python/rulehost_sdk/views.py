"""Views over the decision's input, read in place from the frame (``sdk/src/view.rs``).

Authors see the profile, its events, the catalog and the findings with the
Rust SDK's accessors and never touch the string table. Times and money are
ints (milliseconds since the epoch; minor units).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cmp_to_key
from typing import TypeVar

from .layout import FindingsFrame, InputFrame, Section, Stage, Value, i64_at, u32_at

T = TypeVar("T")


def _attributes(frame: InputFrame, section: Section) -> Iterator[tuple[str, Value]]:
    for i in range(section.count):
        yield frame.attribute(section, i)


def _find(frame: InputFrame, section: Section, key: str) -> Value | None:
    for k, v in _attributes(frame, section):
        if k == key:
            return v
    return None


class Event:
    """Something the customer did."""

    __slots__ = ("_at", "_frame")

    def __init__(self, frame: InputFrame, at: int) -> None:
        self._frame = frame
        self._at = at

    @property
    def kind(self) -> str:
        return self._frame.text(u32_at(self._frame.frame, self._at))

    def is_kind(self, kind: str) -> bool:
        return self.kind == kind

    @property
    def at(self) -> int:
        """When (milliseconds since the epoch)."""
        return self._frame.event_time(self._at)

    @property
    def channel(self) -> str | None:
        return self._frame.optional_text(self._at + 4)

    @property
    def sku(self) -> str | None:
        return self._frame.optional_text(self._at + 8)

    @property
    def category(self) -> str | None:
        return self._frame.optional_text(self._at + 12)

    @property
    def amount_minor(self) -> int | None:
        """Money in minor units."""
        b = self._frame.frame
        return i64_at(b, self._at + 40) if u32_at(b, self._at + 24) & 1 else None

    def _props(self) -> Section:
        b = self._frame.frame
        start = u32_at(b, self._at + 16)
        return self._frame.span("an event's props", self._frame.props, 16, start, u32_at(b, self._at + 20))

    def props(self) -> Iterator[tuple[str, Value]]:
        """Every property, in key order."""
        return _attributes(self._frame, self._props())

    def prop(self, key: str) -> Value | None:
        return _find(self._frame, self._props(), key)


@dataclass(frozen=True)
class TagKey:
    """A tag by name."""

    group: str
    name: str


class Profile:
    """The customer: identities, attributes, events and the previous decision."""

    def __init__(self, frame: InputFrame) -> None:
        self._frame = frame
        # Events are in time order: those at or before now are a prefix.
        times = _EventTimes(frame)
        self._past = bisect.bisect_right(times, frame.now)

    @property
    def customer_id(self) -> str:
        return self._frame.text(self._frame.customer_id)

    def identities(self) -> Iterator[tuple[str, str]]:
        for i in range(self._frame.identities.count):
            yield self._frame.pair(self._frame.identities, i)

    def identity(self, kind: str) -> str | None:
        return next((id_ for k, id_ in self.identities() if k == kind), None)

    def attributes(self) -> Iterator[tuple[str, Value]]:
        return _attributes(self._frame, self._frame.attributes)

    def attr(self, key: str) -> Value | None:
        return _find(self._frame, self._frame.attributes, key)

    def _event(self, i: int) -> Event:
        return Event(self._frame, self._frame.event_at(self._frame.events, i))

    def events(self) -> Iterator[Event]:
        """The events up to now, oldest first (later ones are the future)."""
        return (self._event(i) for i in range(self._past))

    def events_newest_first(self) -> Iterator[Event]:
        return (self._event(i) for i in range(self._past - 1, -1, -1))

    def all_events(self) -> Iterator[Event]:
        """Every event, after now too."""
        return (self._event(i) for i in range(self._frame.events.count))

    def events_of(self, kind: str) -> Iterator[Event]:
        """The events of one kind up to now, oldest first."""
        return (e for e in self.events() if e.kind == kind)

    def prior_tags(self) -> Iterator[TagKey]:
        for i in range(self._frame.prior_tags.count):
            yield TagKey(*self._frame.pair(self._frame.prior_tags, i))

    @property
    def prior_stage(self) -> Stage | None:
        return self._frame.prior_stage


class _EventTimes:
    """The events' times as a sequence, for bisect."""

    def __init__(self, frame: InputFrame) -> None:
        self._frame = frame

    def __len__(self) -> int:
        return self._frame.events.count

    def __getitem__(self, i: int) -> int:
        return self._frame.event_time(self._frame.event_at(self._frame.events, i))


@dataclass(frozen=True)
class ChannelChoice:
    """The channel chosen for an offer and why."""

    channel: str
    why: str


class Offer:
    """An offer of the catalog."""

    __slots__ = ("_at", "_frame")

    def __init__(self, frame: InputFrame, at: int) -> None:
        self._frame = frame
        self._at = at

    @property
    def id(self) -> str:
        return self._frame.text(u32_at(self._frame.frame, self._at))

    @property
    def kind(self) -> str:
        return self._frame.text(u32_at(self._frame.frame, self._at + 4))

    def channels(self) -> Iterator[str]:
        b = self._frame.frame
        start, count = u32_at(b, self._at + 8), u32_at(b, self._at + 12)
        span = self._frame.span("an offer's channels", self._frame.offer_channels, 4, start, count)
        for i in range(span.count):
            yield self._frame.text(u32_at(b, span.offset + 4 * i))

    def has_channel(self, channel: str) -> bool:
        return channel in self.channels()

    @property
    def priority(self) -> int:
        return int.from_bytes(self._frame.frame[self._at + 16 : self._at + 20], "little", signed=True)

    @property
    def value_minor(self) -> int:
        return i64_at(self._frame.frame, self._at + 24)

    @property
    def starts_at(self) -> int | None:
        b = self._frame.frame
        return i64_at(b, self._at + 32) if u32_at(b, self._at + 20) & 1 else None

    @property
    def ends_at(self) -> int | None:
        b = self._frame.frame
        return i64_at(b, self._at + 40) if u32_at(b, self._at + 20) & 2 else None

    def is_valid_at(self, at: int) -> bool:
        starts, ends = self.starts_at, self.ends_at
        return (starts is None or starts <= at) and (ends is None or at < ends)

    def channel_for(self, profile: Profile) -> ChannelChoice | None:
        """Where the customer was last active, if the offer allows it, else its first channel."""
        last = next((e.channel for e in profile.events_newest_first() if e.channel is not None), None)
        if last is not None and self.has_channel(last):
            return ChannelChoice(last, "last active there")
        first = next(self.channels(), None)
        return None if first is None else ChannelChoice(first, "the offer's first channel")


def compare_text(a: str, b: str) -> int:
    """Orders strings as Rust orders ``str`` (by code points, as Python does)."""
    return (a > b) - (a < b)


def by_priority(a: Offer, b: Offer) -> int:
    """Priority, then the lower id first: the best is last."""
    return (a.priority > b.priority) - (a.priority < b.priority) or compare_text(b.id, a.id)


def max_by(items: Iterable[T], order: Callable[[T, T], int]) -> T | None:
    """The last of the greatest items by ``order``, as Rust's ``Iterator::max_by``."""
    best: list[T] = []
    for item in items:
        if not best or order(item, best[0]) >= 0:
            best = [item]
    return best[0] if best else None


class Offers:
    """The catalog."""

    def __init__(self, frame: InputFrame) -> None:
        self._frame = frame

    def __len__(self) -> int:
        return self._frame.offers.count

    def __iter__(self) -> Iterator[Offer]:
        base = self._frame.offers.offset
        return (Offer(self._frame, base + i * 48) for i in range(self._frame.offers.count))

    def get(self, offer_id: str) -> Offer | None:
        return next((o for o in self if o.id == offer_id), None)

    def best_of_kind(self, kind: str, at: int) -> Offer | None:
        """The valid offer of ``kind`` with the highest priority (ties: the lowest id)."""
        return max_by((o for o in self if o.kind == kind and o.is_valid_at(at)), by_priority)

    def sorted(self) -> list[Offer]:
        """Every offer, best last."""
        return sorted(self, key=cmp_to_key(by_priority))


class Findings:
    """What the pipeline has concluded before a ``score`` or ``target`` stage."""

    def __init__(self, frame: FindingsFrame) -> None:
        self._frame = frame

    def tags(self) -> Iterator[TagKey]:
        return (TagKey(g, n) for g, n in self._frame.tags)

    def has_tag(self, group: str, name: str) -> bool:
        return (group, name) in self._frame.tags

    def tags_in(self, group: str) -> list[str]:
        return [n for g, n in self._frame.tags if g == group]

    def scores(self) -> list[tuple[str, float]]:
        return list(self._frame.scores)

    def score(self, name: str) -> float | None:
        values = [v for n, v in self._frame.scores if n == name]
        return values[-1] if values else None

    @property
    def stage(self) -> Stage | None:
        return self._frame.stage
