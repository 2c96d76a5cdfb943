//! Any bytes as the input and findings frames a plugin's session gets
//! (the guest's side of contract v0.2): the SDK refuses them with
//! `invalid_input`, or a plugin that reads every view of them runs, and
//! what it answers is a frame the host reads. Nothing panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rulehost_layout::answer::Answer;
use rulehost_sdk::native::FrameSession;
use rulehost_sdk::testing::ReadsEverything;

fuzz_target!(|data: (Vec<u8>, Vec<u8>)| {
    let (input, findings) = data;
    let session = FrameSession::<ReadsEverything>::new(input);
    for answer in [session.tag(), session.score(&findings), session.target(&findings)] {
        match answer {
            Ok(frame) => assert!(Answer::read(&frame).is_ok(), "the SDK wrote a frame the host refuses"),
            Err(e) => assert_eq!(e.code, "invalid_input", "{e}"),
        }
    }
});
