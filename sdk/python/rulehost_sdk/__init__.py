"""rulehost_sdk: write a brand's tagging, scoring and targeting rules in Python as a rulehost plugin.

Subclass ``Rules``, override any of ``tag``, ``score`` and ``target``, and
test it with ``rulehost_sdk.testing``. See README.md.
"""

from . import kinds
from .config import Config, ConfigValue, boolean, f64, i64, text, u32
from .layout import NAME_BYTES, STAGES, LayoutError, Mode, Stage, Value
from .lifecycle import Lifecycle
from .output import PluginError, Proposal, Score, Scoring, StageVerdict, Tag
from .rfm import Breakpoints, Rfm, Segment, saturating_add, segment_of
from .session import TIMER, Ctx, Host, Level, Rules, Session, Woken
from .text import counted, debug_string
from .time import LocalDate, days_since, end_of_local_day, local_date, parse_rfc3339, plus_days
from .views import ChannelChoice, Event, Findings, Offer, Offers, Profile, TagKey, by_priority, compare_text, max_by

__version__ = "0.1.0"

__all__ = [
    "NAME_BYTES",
    "STAGES",
    "TIMER",
    "Breakpoints",
    "ChannelChoice",
    "Config",
    "ConfigValue",
    "Ctx",
    "Event",
    "Findings",
    "Host",
    "LayoutError",
    "Level",
    "Lifecycle",
    "LocalDate",
    "Mode",
    "Offer",
    "Offers",
    "PluginError",
    "Profile",
    "Proposal",
    "Rfm",
    "Rules",
    "Score",
    "Scoring",
    "Segment",
    "Session",
    "Stage",
    "StageVerdict",
    "Tag",
    "TagKey",
    "Value",
    "Woken",
    "boolean",
    "by_priority",
    "compare_text",
    "counted",
    "days_since",
    "debug_string",
    "end_of_local_day",
    "f64",
    "i64",
    "kinds",
    "local_date",
    "max_by",
    "parse_rfc3339",
    "plus_days",
    "saturating_add",
    "segment_of",
    "text",
    "u32",
]
