"""Views over the decision's input, read in place from the frame (``sdk/src/view.rs``).

Authors see the profile, its events, the catalog and the findings with the
Rust SDK's accessors and never touch the string table. Times and money are
ints (milliseconds since the epoch; minor units).
"""

from __future__ import annotations

import bisect
import operator
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cmp_to_key
from typing import TypeVar

from .layout import NONE, FindingsFrame, InputFrame, Section, Stage, Value, i64_at, u32_at

T = TypeVar("T")


def _attributes(frame: InputFrame, section: Section) -> Iterator[tuple[str, Value]]:
    for i in range(section.count):
        yield frame.attribute(section, i)


def _find(frame: InputFrame, section: Section, key: str) -> Value | None:
    # Keys first: only the value found is decoded.
    for i in range(section.count):
        if frame.attribute_key(section, i) == key:
            return frame.attribute(section, i)[1]
    return None


class Event:
    """Something the customer did."""

    __slots__ = ("_at", "_frame", "_record")

    def __init__(self, frame: InputFrame, at: int, record: tuple[int, ...] | None = None) -> None:
        self._frame = frame
        self._at = at
        self._record = frame.event_record(at) if record is None else record

    def _atom(self, i: int) -> str | None:
        atom = self._record[i]
        return None if atom == NONE else self._frame.text(atom)

    @property
    def kind(self) -> str:
        return self._frame.text(self._record[0])

    def is_kind(self, kind: str) -> bool:
        return self.kind == kind

    @property
    def at(self) -> int:
        """When (milliseconds since the epoch)."""
        return self._record[8]

    @property
    def channel(self) -> str | None:
        return self._atom(1)

    @property
    def sku(self) -> str | None:
        return self._atom(2)

    @property
    def category(self) -> str | None:
        return self._atom(3)

    @property
    def amount_minor(self) -> int | None:
        """Money in minor units."""
        return self._record[9] if self._record[6] & 1 else None

    def _props(self) -> Section:
        return self._frame.span("an event's props", self._frame.props, 16, self._record[4], self._record[5])

    def props(self) -> Iterator[tuple[str, Value]]:
        """Every property, in key order."""
        return _attributes(self._frame, self._props())

    def prop(self, key: str) -> Value | None:
        return _find(self._frame, self._props(), key)


class _Shared:
    """What the views of one decision's frame share across its stages: how
    many events are past, each event's view (made the first time a list
    holds it), the past events' indices by kind atom, and the lists rules
    asked for."""

    def __init__(self, frame: InputFrame) -> None:
        records = frame.event_records
        # Events are in time order: those at or before now are a prefix.
        self.past = bisect.bisect_right(records, frame.now, key=_AT)
        self.views: list[Event | None] = [None] * len(records)
        self.lists: dict[object, tuple[Event, ...]] = {}
        self._kinds: dict[int, list[int]] | None = None

    def kinds(self, frame: InputFrame) -> dict[int, list[int]]:
        """The past events' indices by the atom of their kind (one pass, the first time)."""
        if self._kinds is None:
            kinds: dict[int, list[int]] = {}
            for i, record in enumerate(frame.event_records[: self.past]):
                kinds.setdefault(record[0], []).append(i)
            self._kinds = kinds
        return self._kinds

    def view(self, frame: InputFrame, i: int) -> Event:
        view = self.views[i]
        if view is None:
            view = self.views[i] = Event(frame, frame.event_at(frame.events, i), frame.event_records[i])
        return view


_AT = operator.itemgetter(8)
_SHARED: weakref.WeakKeyDictionary[InputFrame, _Shared] = weakref.WeakKeyDictionary()


def _shared(frame: InputFrame) -> _Shared:
    shared = _SHARED.get(frame)
    if shared is None:
        shared = _SHARED[frame] = _Shared(frame)
    return shared


@dataclass(frozen=True)
class TagKey:
    """A tag by name."""

    group: str
    name: str


class Profile:
    """The customer: identities, attributes, events and the previous decision.

    The event lists are made once per decision and shared by its stages.
    """

    def __init__(self, frame: InputFrame) -> None:
        self._frame = frame
        self._shared = _shared(frame)
        self._past = self._shared.past

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

    def _list(self, key: object, indices: Iterable[int]) -> tuple[Event, ...]:
        shared = self._shared
        found = shared.lists.get(key)
        if found is None:
            found = shared.lists[key] = tuple(shared.view(self._frame, i) for i in indices)
        return found

    def events(self) -> Iterator[Event]:
        """The events up to now, oldest first (later ones are the future)."""
        return iter(self._list("events", range(self._past)))

    def events_newest_first(self) -> Iterator[Event]:
        return reversed(self._list("events", range(self._past)))

    def all_events(self) -> Iterator[Event]:
        """Every event, after now too."""
        return iter(self._list("all", range(self._frame.events.count)))

    def events_of(self, kind: str) -> Iterator[Event]:
        """The events of one kind up to now, oldest first.

        The first call sorts the past events by kind in one pass over their
        atoms (the host writes a kind once per frame); a view is made only
        for an event of a kind asked for.
        """
        found = self._shared.lists.get(("kind", kind))
        if found is None:
            kinds = self._shared.kinds(self._frame)
            matching = [atom for atom in kinds if self._frame.text(atom) == kind]
            # The same kind under two atoms (a writer that writes it twice): back in time order.
            indices = kinds[matching[0]] if len(matching) == 1 else sorted(i for a in matching for i in kinds[a])
            found = self._list(("kind", kind), indices)
        return iter(found)

    def last_channel(self) -> str | None:
        """The channel of the latest event up to now that has one."""
        records = self._frame.event_records
        for i in range(self._past - 1, -1, -1):
            atom = records[i][1]
            if atom != NONE:
                return self._frame.text(atom)
        return None

    def prior_tags(self) -> Iterator[TagKey]:
        for i in range(self._frame.prior_tags.count):
            yield TagKey(*self._frame.pair(self._frame.prior_tags, i))

    @property
    def prior_stage(self) -> Stage | None:
        return self._frame.prior_stage


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
        last = profile.last_channel()
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
        base = frame.offers.offset
        self._offers = tuple(Offer(frame, base + i * 48) for i in range(frame.offers.count))

    def __len__(self) -> int:
        return self._frame.offers.count

    def __iter__(self) -> Iterator[Offer]:
        return iter(self._offers)

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
