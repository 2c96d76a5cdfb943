//! The SDK reads its input and findings as untrusted bytes: any change to
//! a valid frame is refused with `invalid_input`, or read by a plugin that
//! looks at every view without a panic, and what it answers is a frame
//! the host reads.

use proptest::prelude::*;
use rulehost_layout::answer::Answer;
use rulehost_sdk::Stage;
use rulehost_sdk::native::FrameSession;
use rulehost_sdk::testing::{ReadsEverything, TestEvent, TestFindings, TestInput, TestOffer};

fn input() -> Vec<u8> {
    TestInput::at("2026-03-07T10:00:00Z")
        .customer("c-1")
        .identity("wechat_openid", "o-1")
        .attr("member_level", "gold")
        .attr("points", 120i64)
        .push_event(
            TestEvent::new("purchase", "2026-03-01T09:00:00Z")
                .amount(3_200)
                .channel("store")
                .sku("latte-m")
                .category("latte")
                .prop("cup", "large"),
        )
        .purchase("2026-02-01T09:00:00Z", 2_800)
        .event("view", "2026-03-09T09:00:00Z")
        .trigger(TestEvent::new("share", "2026-03-07T09:59:00Z").prop("to", "friend"))
        .prior_tag("member", "gold")
        .prior_stage(Stage::Growth)
        .offer(TestOffer::new("o1", "coupon").channels(["sms", "wecom_1v1"]))
        .to_frame()
}

fn findings() -> Vec<u8> {
    TestFindings::new()
        .tag("member", "gold")
        .score("rfm.r", 4.0)
        .stage(Stage::Maturity)
        .to_frame()
}

/// Runs every stage; each answer is a readable frame or `invalid_input`.
fn every_stage(input: Vec<u8>, findings: &[u8]) -> usize {
    let session = FrameSession::<ReadsEverything>::new(input);
    let mut read = 0;
    for answer in [session.tag(), session.score(findings), session.target(findings)] {
        match answer {
            Ok(frame) => {
                Answer::read(&frame).expect("the SDK writes frames the host reads");
                read += 1;
            }
            Err(e) => assert_eq!(e.code, "invalid_input", "{e}"),
        }
    }
    read
}

#[test]
fn the_valid_frames_are_read_by_every_stage() {
    assert_eq!(every_stage(input(), &findings()), 3);
}

proptest! {
    #[test]
    fn any_changed_byte_of_the_input_is_refused_or_read(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = input();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        every_stage(bytes, &findings());
    }

    #[test]
    fn any_changed_byte_of_the_findings_is_refused_or_read(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = findings();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        every_stage(input(), &bytes);
    }

    #[test]
    fn any_cut_of_either_frame_is_refused_or_read(input_len in any::<prop::sample::Index>(), findings_len in any::<prop::sample::Index>()) {
        let mut bytes = input();
        bytes.truncate(input_len.index(bytes.len()));
        let mut f = findings();
        f.truncate(findings_len.index(f.len()));
        every_stage(bytes, &f);
    }

    #[test]
    fn any_bytes_at_all_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert_eq!(every_stage(bytes, &findings()), 0);
    }
}
