"""What a plugin returns (``sdk/src/output.rs``).

Tags, scores, a stage and proposals, each with the rule that produced it
and a reason a person can read; the host refuses any of them without both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from .layout import Stage


class PluginError(Exception):
    """A failure the plugin reports itself, with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Explained:
    """What every answer carries: the rule that produced it and why."""

    reason_text: str = ""
    rule_id: str = ""

    def rule(self, rule_id: str) -> Self:
        """The rule that produced it."""
        self.rule_id = rule_id
        return self

    def reason(self, reason: str) -> Self:
        """Why, for a person."""
        self.reason_text = reason
        return self


class Tag(Explained):
    """A label on the customer, e.g. ``("member", "gold")``."""

    def __init__(self, group: str, name: str) -> None:
        self.group = group
        self.name = name
        self.expires_at: int | None = None

    def expires(self, at: int) -> Self:
        """When it lapses (milliseconds since the epoch)."""
        self.expires_at = at
        return self


class Score(Explained):
    """A named number about the customer."""

    def __init__(self, name: str, value: float) -> None:
        self.name = name
        self.value = value


class StageVerdict(Explained):
    """The lifecycle stage a plugin places the customer in, with why."""

    def __init__(self, stage: Stage) -> None:
        self.stage: Stage = stage


@dataclass
class Scoring:
    """What the score stage answers: scores and, optionally, a stage."""

    scores: list[Score] = field(default_factory=list)
    stage: StageVerdict | None = None


class Proposal(Explained):
    """An offer of the catalog proposed on a channel."""

    def __init__(self, offer_id: str, channel: str) -> None:
        self.offer_id = offer_id
        self.channel = channel
        self.score_value = 0.0

    def score(self, score: float) -> Self:
        """How strongly (higher first when the policy selects)."""
        self.score_value = score
        return self
