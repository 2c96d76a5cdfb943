"""Unit tests of the rules, run natively: ``python -m pytest``."""

from __future__ import annotations

from rulehost_sdk.testing import TestEvent, TestInput, TestOffer, TestSession

from @MODULE@ import @TYPE@


def test_three_recent_purchases_make_a_regular() -> None:
    input = (
        TestInput.at("2026-03-10T02:00:00Z")
        .purchase("2026-02-20T01:00:00Z", 2_800)
        .purchase("2026-03-01T01:00:00Z", 3_200)
        .purchase("2026-03-08T01:00:00Z", 2_800)
    )
    assert [(t["group"], t["name"]) for t in TestSession(@TYPE@, input).tag()] == [("behaviour", "regular")]


def test_a_lapsed_customer_gets_the_win_back_coupon_where_they_were_active() -> None:
    input = (
        TestInput.at("2026-03-10T02:00:00Z")
        .event(TestEvent("purchase", "2026-01-15T04:00:00Z").amount_minor(3_000).channel("wecom_1v1"))
        .offer(TestOffer("come-back-10", "win_back_coupon").channels("sms", "wecom_1v1").priority(50))
    )
    proposals = TestSession(@TYPE@, input).target()
    assert [(p["offer_id"], p["channel"]) for p in proposals] == [("come-back-10", "wecom_1v1")]
