"""The SDK under pytest: frames read as the Rust SDK reads them, helpers that
answer as the Rust helpers do (the examples of ``sdk/src``), errors that name
what is wrong."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from rulehost_sdk import (
    Breakpoints,
    Config,
    Ctx,
    Findings,
    LayoutError,
    Lifecycle,
    LocalDate,
    Offers,
    PluginError,
    Profile,
    Proposal,
    Rfm,
    Rules,
    Session,
    Tag,
    boolean,
    counted,
    debug_string,
    end_of_local_day,
    i64,
    kinds,
    local_date,
    parse_rfc3339,
    segment_of,
    u32,
)
from rulehost_sdk.layout import InputFrame, Int, Text
from rulehost_sdk.testing import TestEvent, TestFindings, TestHost, TestInput, TestOffer, TestSession, read_answer


def config(settings: dict[str, str]) -> Config:
    return Config(settings.get)


def profile(input: TestInput) -> Profile:
    return Profile(InputFrame(input.to_frame()))


def ms(year: int, month: int, day: int, hour: int) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def test_days_are_counted_like_the_rust_sdk_before_the_epoch_too() -> None:
    assert LocalDate.from_days_since_epoch(0) == LocalDate(1970, 1, 1)
    assert LocalDate.from_days_since_epoch(11_016) == LocalDate(2000, 2, 29)
    assert LocalDate.from_days_since_epoch(47_540) == LocalDate(2100, 2, 28)
    assert LocalDate.from_days_since_epoch(-1) == LocalDate(1969, 12, 31)
    for days in (-700_000, -1, 0, 11_016, 20_513, 47_541, 2_000_000):
        text = f"{LocalDate.from_days_since_epoch(days)}T00:00:00Z"
        assert parse_rfc3339(text) == days * 86_400_000, text


def test_times_read_offsets_and_fractions_and_refuse_impossible_dates() -> None:
    assert parse_rfc3339("2026-03-07T18:00:00.250+08:00") == ms(2026, 3, 7, 10) + 250
    for bad in ("2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-07T24:00:00Z", "2026-03-07T10:00:00"):
        assert parse_rfc3339(bad) is None, bad
    t = 1_772_827_200_000  # 2026-03-06T20:00:00Z = 2026-03-07T04:00 in UTC+8
    assert end_of_local_day(t, 480) == 1_772_899_200_000
    assert str(local_date(t, 480)) == "2026-03-07"


def test_config_errors_name_the_key_and_what_was_expected() -> None:
    c = config({"coffee.dormant_after_days": " 14 ", "coffee.vip": "maybe", "big": "4294967296", "list": "1, 2,x"})
    assert c.required("coffee.dormant_after_days", u32) == 14
    assert c.or_default("coffee.member_day", u32, 7) == 7
    with pytest.raises(PluginError) as e:
        c.required("coffee.vip", boolean)
    assert (e.value.code, e.value.message) == (
        "config_invalid",
        'config key `coffee.vip` is "maybe", expected true or false',
    )
    with pytest.raises(PluginError, match=r"^config key `missing` is not set$"):
        c.required("missing", u32)
    with pytest.raises(PluginError, match="expected a whole number from 0 to 4294967295"):
        c.required("big", u32)
    with pytest.raises(PluginError, match="expected comma-separated items, each a whole number"):
        c.list("list", i64)
    assert debug_string('say "hi"\n\t\\\x01é') == '"say \\"hi\\"\\n\\t\\\\\\u{1}é"'


INPUT = (
    TestInput.at("2026-03-07T10:00:00Z")
    .customer("c-1")
    .identity("wechat_openid", "o-1")
    .attr("member_level", "gold")
    .attr("points", 1200)
    .event(
        TestEvent("purchase", "2026-03-05T09:00:00Z")
        .amount_minor(3200)
        .channel("sms")
        .category("coffee")
        .prop("store", "s-9")
    )
    .event(TestEvent("view", "2026-03-01T09:00:00Z"))
    .event(TestEvent("purchase", "2026-03-09T09:00:00Z").amount_minor(100))
    .offer(TestOffer("o1", "cross_sell").channels("wecom_1v1", "sms").priority(20).value(500))
)


def test_frames_read_back_what_was_written_in_time_order_and_none_after_now() -> None:
    p = profile(INPUT)
    assert p.customer_id == "c-1"
    assert p.identity("wechat_openid") == "o-1"
    assert p.attr("points") == Int(1200)
    assert [(e.kind, e.category, e.amount_minor) for e in p.events()] == [
        ("view", None, None),
        ("purchase", "coffee", 3200),
    ]
    assert len(list(p.all_events())) == 3
    assert next(p.events_of(kinds.PURCHASE)).prop("store") == Text("s-9")
    offer = Offers(InputFrame(INPUT.to_frame())).get("o1")
    assert offer is not None
    assert list(offer.channels()) == ["wecom_1v1", "sms"]
    choice = offer.channel_for(p)
    assert choice is not None and (choice.channel, choice.why) == ("sms", "last active there")


def test_frames_that_do_not_read_are_refused_naming_what_is_wrong() -> None:
    frame = INPUT.to_frame()
    with pytest.raises(LayoutError, match=r"^RHI2 section \d+ "):
        InputFrame(frame[:-3])
    with pytest.raises(LayoutError, match=r"^not a RHI2 frame \(magic\)$"):
        InputFrame(b"X" + frame[1:])
    bad = bytearray(frame)
    struct.pack_into("<I", bad, 8 + 20, 9999)
    with pytest.raises(LayoutError, match=r"^the customer id names no string$"):
        InputFrame(bytes(bad))
    utf8 = bytearray(TestInput.at("2026-03-07T10:00:00Z").customer("é").to_frame())
    ends = struct.unpack_from("<I", utf8, 8 + 32 + 8)[0]
    struct.pack_into("<I", utf8, ends, 1)
    # Strings are checked where they are read: the frame opens, the string
    # does not read.
    opened = InputFrame(bytes(utf8))
    with pytest.raises(LayoutError, match=r"^string 0 \(bytes 0\.\.1\) is not UTF-8"):
        opened.text(0)
    with pytest.raises(LayoutError, match=r"^string 99 is named; there are 1$"):
        opened.text(99)


def test_rfm_over_the_window_with_refunds_saturates() -> None:
    i = (
        TestInput.at("2026-03-07T10:00:00Z")
        .purchase("2026-03-05T09:00:00Z", 3_200)
        .purchase("2026-02-20T09:00:00Z", 2_800)
        .refund("2026-02-21T09:00:00Z", 800)
    )
    assert Rfm.compute(profile(i), i.now, 365) == Rfm(2, 2, 5_200)
    biggest = 2**63 - 1
    huge = (
        TestInput.at("2026-03-10T02:00:00Z")
        .purchase("2026-03-01T01:00:00Z", biggest)
        .purchase("2026-03-02T01:00:00Z", biggest)
        .purchase("2026-03-03T01:00:00Z", -500)
    )
    assert Rfm.compute(profile(huge), huge.now, 90) == Rfm(7, 3, biggest)


def test_scores_and_segments_like_the_rust_example() -> None:
    r = Breakpoints([7, 30, 90, 180]).score_lower_is_better(2)
    f = Breakpoints([2, 3, 5, 8]).score(2)
    assert (r, f) == (5, 2)
    assert segment_of(r, f) == "potential-loyalists"
    assert segment_of(1, 5) == "cant-lose-them"
    with pytest.raises(PluginError, match=r'config key `b` is "1,2,2,3", expected 4 comma-separated ascending numbers'):
        Breakpoints.from_config(config({"b": "1,2,2,3"}), "b")


RULES = Lifecycle(14, 45, 3, 10, 90, "coffee.stage")


def test_a_customer_is_placed_as_the_rust_example_does() -> None:
    i = (
        TestInput.at("2026-03-07T10:00:00Z")
        .purchase("2026-03-01T09:00:00Z", 2_800)
        .purchase("2026-03-03T09:00:00Z", 3_000)
        .purchase("2026-03-06T09:00:00Z", 2_800)
    )
    verdict = RULES.classify(profile(i), i.now)
    assert (verdict.stage, verdict.rule_id, verdict.reason_text) == (
        "growth",
        "coffee.stage.growth",
        "3 purchases in the last 90 days (growth from 3, maturity from 10)",
    )
    gap = TestInput.at("2026-03-07T10:00:00Z").purchase("2026-01-01T09:00:00Z", 1).purchase("2026-03-06T09:00:00Z", 1)
    assert (
        RULES.classify(profile(gap), gap.now).reason_text == "bought 1 days ago after a 64-day gap (dormant after 14)"
    )
    prior = TestInput.at("2026-03-07T10:00:00Z").purchase("2026-03-06T09:00:00Z", 1).prior_stage("dormancy")
    assert RULES.classify(profile(prior), prior.now).stage == "reactivated"
    c = config(
        {
            "x.dormant_after_days": "14",
            "x.churned_after_days": "10",
            "x.growth_min_purchases": "3",
            "x.maturity_min_purchases": "8",
        }
    )
    with pytest.raises(PluginError, match=r"expected more than 14 \(`x.dormant_after_days`\)"):
        Lifecycle.from_config(c, "x", "x.stage")


class Hello(Rules):
    def tag(self, ctx: Ctx, profile: Profile) -> list[Tag]:
        return [Tag("hello", profile.customer_id).rule("r").reason(f"at {ctx.today}")]

    def target(self, ctx: Ctx, profile: Profile, findings: Findings, offers: Offers) -> list[Proposal]:
        raise PluginError("config_missing", f"nothing at {ctx.now}")


def test_sessions_answer_in_frames_the_host_reads() -> None:
    session = TestSession(Hello, TestInput.at("2026-03-07T10:00:00Z").customer("c-9"))
    assert session.tag() == [
        {"group": "hello", "name": "c-9", "reason": "at 2026-03-07", "rule_id": "r", "expires_at": None}
    ]
    answer = session.score(TestFindings().stage("growth"))
    assert (answer.scores, answer.stage) == ([], None)
    with pytest.raises(PluginError, match=r"^nothing at "):
        session.target()
    empty = TestSession(Rules, TestInput.at("2026-03-07T10:00:00Z"))
    assert empty.target() == []


def test_every_stage_fails_with_invalid_input_when_the_input_does_not_read() -> None:
    frame = TestInput.at("2026-03-07T10:00:00Z").to_frame()
    session = TestSession(Hello, frame[:-3])
    for stage in (session.tag, session.score, session.target):
        with pytest.raises(PluginError, match=r"^the host sent an input that does not read: RHI2 section") as e:
            stage()
        assert e.value.code == "invalid_input"
    good = Session(Hello, TestHost(), TestInput.at("2026-03-07T10:00:00Z").to_frame())
    with pytest.raises(PluginError, match="findings that do not read"):
        good.score(b"RHF2 and nothing")
    assert read_answer(good.tag()).tags != []


def test_counted_like_the_rust_sdk() -> None:
    assert counted(1, "purchase", "purchases") == "1 purchase"
    assert counted(3, "purchase", "purchases") == "3 purchases"
    assert read_answer(Session(Rules, TestHost(), TestInput.at("2026-03-07T10:00:00Z").to_frame()).tag()).tags == []
    host = TestHost({"flag": True, "n": 14})
    assert (host.config("flag"), host.config("n")) == ("true", "14")


class Waking(Rules):
    def target(self, ctx: Ctx, profile: Profile, findings: Findings, offers: Offers) -> list[Proposal]:
        woken = ctx.woken
        if woken is not None:
            ctx.log("info", f"woken by {woken.key}: {woken.reason}")
        ctx.wake_at("unpaid:o-1", ctx.now + 30 * 60_000, "order o-1 unpaid")
        ctx.clear_wake("dormancy-check")
        return []


def test_wake_ups_cross_in_the_answers_sixth_section_and_say_what_woke_them() -> None:
    at = "2026-03-07T10:00:00Z"
    host = TestHost()
    timer = TestEvent("timer", at).prop("key", "unpaid:o-0").prop("reason", "order o-0 unpaid")
    answer = TestSession(Waking, TestInput.at(at).trigger(timer), host).target_answer()
    assert answer.wakes == [
        {"key": "unpaid:o-1", "at": ms(2026, 3, 7, 10) + 30 * 60_000, "reason": "order o-1 unpaid"},
        {"key": "dormancy-check", "at": None, "reason": None},
    ]
    assert host.logs == [("info", "woken by unpaid:o-0: order o-0 unpaid")]
