//! A plugin that implements contract 0.2.0 by hand, below the SDK, and
//! answers its tag stage with a frame the host must refuse, chosen by the
//! config key `mode`: `garbage`, `truncated`, `atom-out-of-range`,
//! `not-utf8`, `section-outside`, `stray-proposals`, `old-revision`; `ok`
//! answers one valid tag. Its score and target stages answer empty frames.

use rulehost_layout::Tag;
use rulehost_layout::answer::AnswerWriter;

/// A valid answer with one tag, `test`/`ab`, and the byte offset of the
/// string "ab" in it.
pub fn one_tag() -> (Vec<u8>, usize) {
    let mut w = AnswerWriter::default();
    let tag = Tag {
        group: w.text("test"),
        name: w.text("ab"),
        reason: w.text("on request"),
        rule_id: w.text("bad.frame"),
        expires_at: None,
    };
    w.tag(&tag);
    let mut out = Vec::new();
    w.finish(&mut out);
    let at = out.windows(6).position(|w| w == b"testab").map_or(0, |i| i + 4);
    (out, at)
}

/// The tag stage's answer for `mode`.
pub fn answer(mode: &str) -> Vec<u8> {
    let (mut frame, ab) = one_tag();
    match mode {
        "garbage" => b"not a frame at all".to_vec(),
        "truncated" => {
            frame.truncate(frame.len() / 2);
            frame
        }
        "atom-out-of-range" => {
            let mut w = AnswerWriter::default();
            let text = w.text("only string");
            w.tag(&Tag {
                group: text,
                name: 99,
                reason: text,
                rule_id: text,
                expires_at: None,
            });
            let mut out = Vec::new();
            w.finish(&mut out);
            out
        }
        "not-utf8" => {
            frame[ab] = 0xFF;
            frame
        }
        "section-outside" => {
            // Section 2 (tags) claims a billion records.
            let count = 8 + 16 + 8 * 2 + 4;
            frame[count..count + 4].copy_from_slice(&1_000_000_000u32.to_le_bytes());
            frame
        }
        "stray-proposals" => {
            let mut w = AnswerWriter::default();
            let text = w.text("x");
            w.proposal(&rulehost_layout::Proposal {
                offer_id: text,
                channel: text,
                reason: text,
                rule_id: text,
                score: 1.0,
            });
            let mut out = Vec::new();
            w.finish(&mut out);
            out
        }
        "old-revision" => {
            frame[4] = 0;
            frame
        }
        _ => frame,
    }
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use rulehost_sdk::__private::bindings::exports::rulehost::plugin::rules::{Guest, GuestSession, PluginError};
    use rulehost_sdk::__private::bindings::rulehost::plugin::host;

    struct BadFrames;

    impl Guest for BadFrames {
        type Session = Session;
    }

    struct Session;

    fn empty() -> Vec<u8> {
        let mut out = Vec::new();
        rulehost_layout::answer::AnswerWriter::default().finish(&mut out);
        out
    }

    impl GuestSession for Session {
        fn new(_input: Vec<u8>) -> Self {
            Session
        }

        fn tag(&self) -> Result<Vec<u8>, PluginError> {
            let mode = host::config("mode").unwrap_or_default();
            Ok(super::answer(&mode))
        }

        fn score(&self, _findings: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            Ok(empty())
        }

        fn target(&self, _findings: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            Ok(empty())
        }
    }

    rulehost_sdk::__private::bindings::__export_rules!(BadFrames with_types_in rulehost_sdk::__private::bindings);
}
