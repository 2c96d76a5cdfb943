"""Schemathesis hooks for rulehost's contract test.

Loaded through the `hooks` setting of schemathesis.toml. They say how to
send the bodies that are not JSON (NDJSON is text, a component is bytes),
and they hold generated bodies to the rules that JSON Schema cannot state
and the OpenAPI document states in words:

- an offer's `ends_at` is after its `starts_at`, and no two offers of a
  catalog share an `id`;
- a channel's quiet hours start and end at different times.

A body that breaks one of these is not generated (the server refuses it
with 400, naming the field, as the document says). Nor is an NDJSON body
that is not a string: on the wire every body is bytes, so "a body of the
wrong type" cannot be sent.
"""

from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.hooks import HookContext

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/wasm", "application/octet-stream")


def offers_follow_the_rules(offers: list[Any]) -> bool:
    """No two offers share an id; each ends after it starts."""
    ids = [o.get("id") for o in offers if isinstance(o, dict)]
    if len(ids) != len(set(map(repr, ids))):
        return False
    for offer in offers:
        if not isinstance(offer, dict):
            continue
        starts, ends = offer.get("starts_at"), offer.get("ends_at")
        if isinstance(starts, str) and isinstance(ends, str) and ends <= starts:
            return False
    return True


def policy_follows_the_rules(policy: dict[str, Any]) -> bool:
    """Every channel's quiet hours start and end at different times."""
    channels = policy.get("channels")
    if not isinstance(channels, dict):
        return True
    for channel in channels.values():
        quiet = channel.get("quiet_hours") if isinstance(channel, dict) else None
        if isinstance(quiet, dict) and quiet.get("start") == quiet.get("end"):
            return False
    return True


@schemathesis.hook
def filter_case(context: HookContext, case: Case[Any]) -> bool:
    """Keep cases whose bodies follow the rules stated in words."""
    body = case.body
    if case.media_type == "application/x-ndjson":
        return isinstance(body, str)
    if isinstance(body, list):
        return offers_follow_the_rules(body)
    if isinstance(body, dict):
        return policy_follows_the_rules(body)
    return True
