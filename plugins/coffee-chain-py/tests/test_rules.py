"""The Rust plugin's unit tests, ported: the same inputs, the same answers."""

from __future__ import annotations

from rulehost_sdk.testing import TestEvent, TestFindings, TestHost, TestInput, TestOffer, TestSession

from coffee_chain import CoffeeChain, yuan

CONFIG: dict[str, str | int | bool] = {
    "coffee.dormant_after_days": 14,
    "coffee.churned_after_days": 45,
    "coffee.growth_min_purchases": 3,
    "coffee.maturity_min_purchases": 8,
    "coffee.window_days": 90,
    "coffee.about_to_sleep_days": 10,
    "coffee.high_value_min_minor": 50000,
}


def test_yuan_formats_minor_units() -> None:
    assert yuan(123_450) == "¥1234.50"
    assert yuan(5) == "¥0.05"
    assert yuan(2**63 - 1) == "¥92233720368547758.07"
    assert yuan(-150) == "¥-1.50"


def test_only_one_coupon_survives_on_member_day() -> None:
    # A dormant gold member on member day: the win-back and member-day
    # coupons compete; the higher priority wins.
    host = TestHost(CONFIG)
    input = (
        TestInput.at("2026-03-07T10:00:00Z")
        .attr("member_level", "gold")
        .event(TestEvent("purchase", "2026-02-10T09:00:00Z").amount_minor(3_000).channel("sms"))
        .offer(TestOffer("winback", "win_back_coupon").channels("sms").priority(50).valid(None, "2026-03-31T00:00:00Z"))
        .offer(TestOffer("md", "member_day_coupon").channels("sms").priority(60))
    )
    session = TestSession(CoffeeChain, input, host)
    assert any(t["name"] == "member-day" for t in session.tag())
    findings = TestFindings().tag("calendar", "member-day").tag("member", "gold").stage("dormancy")
    assert [p["offer_id"] for p in session.target(findings)] == ["md"]
    assert host.logs == [("info", "dropped coupon winback: one coupon per decision, kept md")]
