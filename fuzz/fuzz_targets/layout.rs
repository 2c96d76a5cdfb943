//! Any bytes as a contract v0.2 frame — an input or findings (which the
//! SDK reads inside a plugin), an answer (which the host reads from one):
//! refused with a message, or read, and everything read can be visited
//! without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rulehost_layout::answer::Answer;
use rulehost_layout::findings::Findings;
use rulehost_layout::input::Input;

fuzz_target!(|bytes: &[u8]| {
    let mut seen = 0usize;
    if let Ok(input) = Input::read(bytes) {
        seen += input.text(input.header.customer_id).len();
        for e in input.events.iter() {
            seen += input.text(e.kind).len() + e.channel.map_or(0, |a| input.text(a).len());
            for p in input.props.span(e.props).iter() {
                seen += input.text(p.key).len();
            }
        }
        for a in input.attributes.iter().chain(input.props.iter()) {
            if let rulehost_layout::Value::Text(t) = a.value {
                seen += input.text(t).len();
            }
        }
        for o in input.offers.iter() {
            seen += input.offer_channels.span(o.channels).iter().map(|c| input.text(c).len()).sum::<usize>();
        }
    }
    if let Ok(findings) = Findings::read(bytes) {
        seen += findings.tags.iter().map(|t| findings.text(t.group).len() + findings.text(t.name).len()).sum::<usize>();
        seen += findings.scores.iter().map(|s| findings.text(s.name).len()).sum::<usize>();
    }
    if let Ok(answer) = Answer::read(bytes) {
        seen += answer.tags.iter().map(|t| answer.text(t.reason).len()).sum::<usize>();
        seen += answer.proposals.iter().map(|p| answer.text(p.offer_id).len()).sum::<usize>();
        seen += answer.scores.iter().map(|s| answer.text(s.rule_id).len()).sum::<usize>();
    }
    std::hint::black_box(seen);
});
