"""Recency, frequency and monetary value, scored 1–5 and named as the ten segments (``sdk/src/rfm.rs``)."""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import Literal

from .config import I64_MAX, I64_MIN, Config, i64, invalid
from .kinds import PURCHASE, REFUND
from .time import days_since, plus_days
from .views import Profile

U32_MAX = 4_294_967_295


def saturating_add(a: int, b: int) -> int:
    """``a + b`` held within 64 bits, as Rust's ``saturating_add``."""
    return max(I64_MIN, min(I64_MAX, a + b))


@dataclass(frozen=True)
class Rfm:
    """A customer's recency, frequency and monetary value over a window."""

    recency_days: int | None
    """Whole days since the last purchase (ever, not only in the window)."""
    frequency: int
    """Purchases in the window."""
    monetary_minor: int
    """Spent in the window net of refunds, never below zero (minor units)."""

    @staticmethod
    def compute(profile: Profile, now: int, window_days: int | None) -> Rfm:
        """RFM at ``now`` over the last ``window_days`` days (all time when None).

        Computed once per decision for the same arguments (the stages share the result).
        """
        known = _COMPUTED.setdefault(profile, {})
        rfm = known.get((now, window_days))
        if rfm is None:
            rfm = known[(now, window_days)] = _rfm(profile, now, window_days)
        return rfm


_COMPUTED: weakref.WeakKeyDictionary[Profile, dict[tuple[int, int | None], Rfm]] = weakref.WeakKeyDictionary()


def _rfm(profile: Profile, now: int, window_days: int | None) -> Rfm:
    # The two kinds it counts, each a list the decision keeps: no view of
    # any other event is made.
    since = None if window_days is None else plus_days(now, -window_days)
    last_purchase = None
    frequency = spent = refunded = 0
    for event in profile.events_of(PURCHASE):
        at = last_purchase = event.at
        if since is None or at > since:
            frequency = min(frequency + 1, U32_MAX)
            spent = saturating_add(spent, max(event.amount_minor or 0, 0))
    for event in profile.events_of(REFUND):
        if since is None or event.at > since:
            refunded = saturating_add(refunded, max(event.amount_minor or 0, 0))
    return Rfm(
        recency_days=None if last_purchase is None else days_since(now, last_purchase),
        frequency=frequency,
        monetary_minor=max(saturating_add(spent, -refunded), 0),
    )


class Breakpoints:
    """Four strictly ascending thresholds that cut values into scores 1–5."""

    def __init__(self, values: list[int]) -> None:
        if len(values) != 4 or any(a >= b for a, b in itertools.pairwise(values)):
            raise ValueError(f"breakpoints must be 4 strictly ascending values, got {values}")
        self.values = tuple(values)

    @staticmethod
    def from_config(config: Config, key: str) -> Breakpoints:
        """Breakpoints from a config key holding four comma-separated numbers."""
        values = config.list(key, i64)
        try:
            return Breakpoints(values)
        except ValueError:
            raise invalid(key, config.get(key) or "", "4 comma-separated ascending numbers") from None

    def score(self, value: int) -> int:
        """1 + how many breakpoints are at or below ``value`` (higher is better)."""
        return 1 + sum(1 for b in self.values if b <= value)

    def score_lower_is_better(self, value: int | None) -> int:
        """For recency: 5 − how many breakpoints are below ``value``; 1 for none."""
        return 1 if value is None else 5 - sum(1 for b in self.values if b < value)


Segment = Literal[
    "champions",
    "loyal",
    "potential-loyalists",
    "new",
    "promising",
    "need-attention",
    "about-to-sleep",
    "at-risk",
    "cant-lose-them",
    "hibernating",
]


def segment_of(r: int, f: int) -> Segment:
    """The segment of recency and frequency scores (each clamped to 1–5)."""
    r, f = min(max(r, 1), 5), min(max(f, 1), 5)
    if r == 5 and f >= 4:
        return "champions"
    if 3 <= r <= 4 and f >= 4:
        return "loyal"
    if r >= 4 and 2 <= f <= 3:
        return "potential-loyalists"
    if r == 5:
        return "new"
    if r == 4:
        return "promising"
    if r == 3:
        return "need-attention" if f == 3 else "about-to-sleep"
    if 3 <= f <= 4:
        return "at-risk"
    return "cant-lose-them" if f == 5 else "hibernating"
