// The Rust plugin's unit tests, ported: the same inputs, the same answers.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { TestEvent, TestFindings, TestHost, TestInput, TestOffer, TestSession } from "@rulehost/sdk/testing";

import coffee, { yuan } from "../src/index.js";

const CONFIG = {
  "coffee.dormant_after_days": 14,
  "coffee.churned_after_days": 45,
  "coffee.growth_min_purchases": 3,
  "coffee.maturity_min_purchases": 8,
  "coffee.window_days": 90,
  "coffee.about_to_sleep_days": 10,
  "coffee.high_value_min_minor": 50000,
};

describe("coffee-chain", () => {
  it("formats minor units as yuan", () => {
    assert.equal(yuan(123_450n), "¥1234.50");
    assert.equal(yuan(5n), "¥0.05");
    assert.equal(yuan(2n ** 63n - 1n), "¥92233720368547758.07");
  });

  it("keeps only one coupon on member day", () => {
    // A dormant gold member on member day: the win-back and member-day
    // coupons compete; the higher priority wins.
    const host = new TestHost(CONFIG);
    const input = TestInput.at("2026-03-07T10:00:00Z")
      .attr("member_level", "gold")
      .event(new TestEvent("purchase", "2026-02-10T09:00:00Z").amountMinor(3_000).channel("sms"))
      .offer(new TestOffer("winback", "win_back_coupon").channels("sms").priority(50).valid(undefined, "2026-03-31T00:00:00Z"))
      .offer(new TestOffer("md", "member_day_coupon").channels("sms").priority(60));
    const session = new TestSession(coffee, input, host);
    assert.ok(session.tag().some((t) => t.name === "member-day"));
    const findings = new TestFindings().tag("calendar", "member-day").tag("member", "gold").stage("dormancy");
    assert.deepEqual(
      session.target(findings).map((p) => p.offerId),
      ["md"],
    );
    assert.deepEqual(host.logs, [["info", "dropped coupon winback: one coupon per decision, kept md"]]);
  });

  it("reports a missing setting for every stage from one reading", () => {
    const session = new TestSession(coffee, TestInput.at("2026-03-07T10:00:00Z"), new TestHost({}));
    assert.throws(() => session.tag(), { code: "config_missing", message: "config key `coffee.dormant_after_days` is not set" });
    assert.throws(() => session.score(), { code: "config_missing" });
  });
});
