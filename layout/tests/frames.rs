//! Frames read back what was written, and a reader refuses — never
//! panics on — bytes that break the layout.

use proptest::prelude::*;
use rulehost_layout::answer::{Answer, AnswerWriter, StageVerdict};
use rulehost_layout::findings::{Findings, FindingsWriter};
use rulehost_layout::input::{Checked, Header, Input, InputWriter, Mode};
use rulehost_layout::{Attribute, Event, Identity, Offer, Proposal, Score, Span, Tag, TagKey, Value, Wake};

/// An event as plain data: kind, time, channel, amount, props.
type PlainEvent = (String, i64, Option<String>, Option<i64>, Vec<(String, Plain)>);

/// A customer as plain data, written into a frame by [`write`].
#[derive(Debug, Clone)]
struct Customer {
    id: String,
    identities: Vec<(String, String)>,
    attributes: Vec<(String, Plain)>,
    events: Vec<PlainEvent>,
    offers: Vec<(String, i32, Option<i64>, Vec<String>)>,
    trigger: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Plain {
    Text(String),
    Int(i64),
    Float(f64),
    Flag(bool),
    Time(i64),
}

fn plain() -> impl Strategy<Value = Plain> {
    prop_oneof![
        ".{0,12}".prop_map(Plain::Text),
        any::<i64>().prop_map(Plain::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Plain::Float),
        any::<bool>().prop_map(Plain::Flag),
        any::<i64>().prop_map(Plain::Time),
    ]
}

fn customer() -> impl Strategy<Value = Customer> {
    (
        ".{0,20}",
        prop::collection::vec((".{0,8}", ".{0,8}"), 0..4),
        prop::collection::vec((".{0,10}", plain()), 0..8),
        prop::collection::vec(
            (
                "[a-z]{1,8}",
                any::<i64>(),
                prop::option::of("[a-z]{1,6}"),
                prop::option::of(any::<i64>()),
                prop::collection::vec(("[a-z]{1,5}", plain()), 0..3),
            ),
            0..12,
        ),
        prop::collection::vec(
            (
                "[a-z-]{1,10}",
                any::<i32>(),
                prop::option::of(any::<i64>()),
                prop::collection::vec("[a-z_]{1,8}", 0..3),
            ),
            0..5,
        ),
        prop::option::of("[a-z]{1,8}"),
    )
        .prop_map(|(id, identities, attributes, events, offers, trigger)| Customer {
            id,
            identities,
            attributes,
            events,
            offers,
            trigger,
        })
}

fn value(w: &mut InputWriter, p: &Plain) -> Value {
    match p {
        Plain::Text(s) => Value::Text(w.text(s)),
        Plain::Int(i) => Value::Int(*i),
        Plain::Float(f) => Value::Float(*f),
        Plain::Flag(b) => Value::Flag(*b),
        Plain::Time(t) => Value::Time(*t),
    }
}

fn back(input: &Input<'_>, v: Value) -> Plain {
    match v {
        Value::Text(a) => Plain::Text(input.text(a).to_owned()),
        Value::Int(i) => Plain::Int(i),
        Value::Float(f) => Plain::Float(f),
        Value::Flag(b) => Plain::Flag(b),
        Value::Time(t) => Plain::Time(t),
    }
}

fn header(customer_id: u32) -> Header {
    Header {
        now: 1_773_108_000_000,
        seed: 7,
        tz_offset_minutes: 480,
        customer_id,
        mode: Mode::Simulate,
        prior_stage: Some(2),
    }
}

fn write(c: &Customer) -> Vec<u8> {
    let mut w = InputWriter::default();
    let id = w.text(&c.id);
    for (kind, value) in &c.identities {
        let identity = Identity {
            kind: w.text(kind),
            id: w.text(value),
        };
        w.identity(&identity);
    }
    for (key, v) in &c.attributes {
        let attribute = Attribute {
            key: w.text(key),
            value: value(&mut w, v),
        };
        w.attribute(&attribute);
    }
    for (kind, at, channel, amount, props) in &c.events {
        let start = w.props_len();
        for (key, v) in props {
            let prop = Attribute {
                key: w.text(key),
                value: value(&mut w, v),
            };
            w.prop(&prop);
        }
        let event = Event {
            kind: w.text(kind),
            channel: channel.as_deref().map(|s| w.text(s)),
            sku: None,
            category: None,
            props: Span {
                start,
                len: props.len() as u32,
            },
            at: *at,
            amount_minor: *amount,
        };
        w.event(&event);
    }
    w.prior_tag(&TagKey { group: id, name: id });
    for (offer, priority, starts, channels) in &c.offers {
        let start = w.offer_channels_len();
        for channel in channels {
            let atom = w.text(channel);
            w.offer_channel(atom);
        }
        let offer = Offer {
            id: w.text(offer),
            kind: w.text("coupon"),
            channels: Span {
                start,
                len: channels.len() as u32,
            },
            priority: *priority,
            value_minor: 100,
            starts_at: *starts,
            ends_at: None,
        };
        w.offer(&offer);
    }
    if let Some(kind) = &c.trigger {
        let trigger = Event {
            kind: w.text(kind),
            channel: None,
            sku: None,
            category: None,
            props: Span::default(),
            at: 5,
            amount_minor: None,
        };
        w.trigger(&trigger);
    }
    let mut out = Vec::new();
    w.finish(&header(id), &mut out);
    out
}

proptest! {
    #[test]
    fn an_input_reads_back_what_was_written(c in customer()) {
        let bytes = write(&c);
        let input = Input::read(&bytes).expect("a written frame reads");
        prop_assert_eq!(input.header, header(input.header.customer_id));
        prop_assert_eq!(input.text(input.header.customer_id), c.id.as_str());
        let identities: Vec<_> = input.identities.iter().map(|i| (input.text(i.kind).to_owned(), input.text(i.id).to_owned())).collect();
        prop_assert_eq!(identities, c.identities.clone());
        let attributes: Vec<_> = input.attributes.iter().map(|a| (input.text(a.key).to_owned(), back(&input, a.value))).collect();
        prop_assert_eq!(attributes, c.attributes.clone());
        prop_assert_eq!(input.events.len(), c.events.len());
        for (e, (kind, at, channel, amount, props)) in input.events.iter().zip(&c.events) {
            prop_assert_eq!(input.text(e.kind), kind.as_str());
            prop_assert_eq!(e.at, *at);
            prop_assert_eq!(e.channel.map(|a| input.text(a)), channel.as_deref());
            prop_assert_eq!(e.amount_minor, *amount);
            let read: Vec<_> = input.props.span(e.props).iter().map(|p| (input.text(p.key).to_owned(), back(&input, p.value))).collect();
            prop_assert_eq!(&read, props);
        }
        for (o, (id, priority, starts, channels)) in input.offers.iter().zip(&c.offers) {
            prop_assert_eq!(input.text(o.id), id.as_str());
            prop_assert_eq!(o.priority, *priority);
            prop_assert_eq!(o.starts_at, *starts);
            prop_assert_eq!(o.ends_at, None);
            let read: Vec<_> = input.offer_channels.span(o.channels).iter().map(|a| input.text(a).to_owned()).collect();
            prop_assert_eq!(&read, channels);
        }
        prop_assert_eq!(input.trigger.map(|t| input.text(t.kind).to_owned()), c.trigger.clone());
    }

    /// Whatever the bytes, reading refuses or succeeds — and what it
    /// accepts can be read everywhere without a panic.
    #[test]
    fn any_bytes_are_refused_or_read_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(input) = Input::read(&bytes) {
            touch_input(&input);
        }
        if let Ok(findings) = Findings::read(&bytes) {
            for t in findings.tags.iter() { findings.text(t.group); findings.text(t.name); }
        }
        if let Ok(answer) = Answer::read(&bytes) {
            for t in answer.tags.iter() { answer.text(t.reason); }
        }
    }

    /// A written frame with any one byte changed is refused or read
    /// without a panic (a mutation of a valid frame reaches much deeper
    /// than random bytes).
    #[test]
    fn a_frame_with_a_byte_changed_is_refused_or_read_safely(c in customer(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = write(&c);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(input) = Input::read(&bytes) {
            touch_input(&input);
        }
    }
}

fn touch_input(input: &Input<'_>) {
    input.text(input.header.customer_id);
    for e in input.events.iter() {
        input.text(e.kind);
        for p in input.props.span(e.props).iter() {
            input.text(p.key);
        }
    }
    for o in input.offers.iter() {
        for c in input.offer_channels.span(o.channels).iter() {
            input.text(c);
        }
    }
}

fn valid() -> Vec<u8> {
    write(&Customer {
        id: "c-1".into(),
        identities: vec![],
        attributes: vec![("member_level".into(), Plain::Text("gold".into()))],
        events: vec![(
            "purchase".into(),
            10,
            Some("sms".into()),
            Some(2800),
            vec![("size".into(), Plain::Int(2))],
        )],
        offers: vec![("latte".into(), 1, None, vec!["sms".into()])],
        trigger: None,
    })
}

/// The offset of section `i`'s table entry in an input frame.
fn entry(i: usize) -> usize {
    8 + 32 + 8 * i
}

fn refused(bytes: &[u8]) -> String {
    match Input::read(bytes) {
        Ok(_) => panic!("a broken frame was read"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn each_kind_of_broken_input_is_refused_saying_what_is_wrong() {
    let good = valid();
    Input::read(&good).expect("the valid frame reads");

    let mut b = good.clone();
    b[0] = b'X';
    assert!(refused(&b).contains("magic"), "{}", refused(&b));

    let mut b = good.clone();
    b[4] = 9;
    assert!(refused(&b).contains("revision 9"), "{}", refused(&b));

    assert!(refused(&good[..20]).contains("shorter than its header"));

    // The events section claims one more record than the frame holds.
    let mut b = good.clone();
    let count = u32::from_le_bytes(b[entry(4) + 4..entry(4) + 8].try_into().unwrap());
    b[entry(4) + 4..entry(4) + 8].copy_from_slice(&(count + 100).to_le_bytes());
    assert!(refused(&b).contains("section 4"), "{}", refused(&b));

    // A string that is not UTF-8.
    let mut b = good.clone();
    let strings = u32::from_le_bytes(b[entry(0)..entry(0) + 4].try_into().unwrap()) as usize;
    b[strings] = 0xff;
    assert!(refused(&b).contains("UTF-8"), "{}", refused(&b));

    // The attribute's key names a string past the table.
    let mut b = good.clone();
    let attributes = u32::from_le_bytes(b[entry(3)..entry(3) + 4].try_into().unwrap()) as usize;
    b[attributes..attributes + 4].copy_from_slice(&999u32.to_le_bytes());
    assert!(
        refused(&b).contains("attributes[0] refers to string 999"),
        "{}",
        refused(&b)
    );

    // An unknown value kind.
    let mut b = good.clone();
    b[attributes + 4] = 7;
    assert!(refused(&b).contains("value kind 7"), "{}", refused(&b));

    // An event's props run past the props section.
    let mut b = good.clone();
    let events = u32::from_le_bytes(b[entry(4)..entry(4) + 4].try_into().unwrap()) as usize;
    b[events + 20..events + 24].copy_from_slice(&5u32.to_le_bytes());
    assert!(refused(&b).contains("events[0] spans"), "{}", refused(&b));

    // An unknown mode and stage.
    let mut b = good.clone();
    b[8 + 24] = 4;
    assert!(refused(&b).contains("mode 4"), "{}", refused(&b));
    let mut b = good;
    b[8 + 25] = 6;
    assert!(refused(&b).contains("not a lifecycle stage"), "{}", refused(&b));
}

#[test]
fn findings_and_answers_read_back_what_was_written() {
    let mut f = FindingsWriter::default();
    f.tag("rfm", "champion");
    f.tag("member", "gold");
    f.score("rfm.r", 5.0);
    let mut out = Vec::new();
    f.finish(Some(1), &mut out);
    let findings = Findings::read(&out).expect("reads");
    assert_eq!(findings.stage, Some(1));
    let tags: Vec<_> = findings
        .tags
        .iter()
        .map(|t| (findings.text(t.group), findings.text(t.name)))
        .collect();
    assert_eq!(tags, [("rfm", "champion"), ("member", "gold")]);
    let scores: Vec<_> = findings
        .scores
        .iter()
        .map(|s| (findings.text(s.name), s.value))
        .collect();
    assert_eq!(scores, [("rfm.r", 5.0)]);

    let mut a = AnswerWriter::default();
    let (reason, rule) = (a.text("3 purchases in 90 days"), a.text("stage.growth"));
    a.stage(StageVerdict {
        stage: 1,
        reason,
        rule_id: rule,
    });
    let (name, offer, channel) = (a.text("rfm.f"), a.text("pastry"), a.text("wecom_1v1"));
    a.score(&Score {
        name,
        reason,
        rule_id: rule,
        value: 3.0,
    });
    a.proposal(&Proposal {
        offer_id: offer,
        channel,
        reason,
        rule_id: rule,
        score: 0.5,
    });
    let (group, tag) = (a.text("value"), a.text("high"));
    a.tag(&Tag {
        group,
        name: tag,
        reason,
        rule_id: rule,
        expires_at: Some(9),
    });
    a.finish(&mut out);
    let answer = Answer::read(&out).expect("reads");
    let stage = answer.stage.expect("a stage");
    assert_eq!(
        (stage.stage, answer.text(stage.reason), answer.text(stage.rule_id)),
        (1, "3 purchases in 90 days", "stage.growth")
    );
    let t = answer.tags.get(0).expect("a tag");
    assert_eq!(
        (answer.text(t.group), answer.text(t.name), t.expires_at),
        ("value", "high", Some(9))
    );
    let p = answer.proposals.get(0).expect("a proposal");
    assert_eq!(
        (answer.text(p.offer_id), answer.text(p.channel), p.score),
        ("pastry", "wecom_1v1", 0.5)
    );
    assert_eq!(answer.scores.get(0).map(|s| s.value), Some(3.0));

    // A proposal naming a string the answer does not have is refused.
    let mut a = AnswerWriter::default();
    a.proposal(&Proposal {
        offer_id: 0,
        channel: 0,
        reason: 0,
        rule_id: 0,
        score: 0.0,
    });
    a.finish(&mut out);
    let err = Answer::read(&out).map(|_| ()).expect_err("refused");
    assert!(
        err.to_string().contains("proposals[0] refers to string 0; there are 0"),
        "{err}"
    );
}

#[test]
fn a_checked_input_is_kept_and_reads_the_same() {
    let bytes = valid();
    let checked = Checked::new(bytes.clone()).expect("reads");
    assert_eq!(checked.bytes(), &bytes[..]);
    let input = checked.input();
    assert_eq!(input.text(input.header.customer_id), "c-1");
    let event = input.events.get(0).expect("an event");
    assert_eq!((input.text(event.kind), event.amount_minor), ("purchase", Some(2800)));
    let mut broken = bytes;
    broken[0] = b'X';
    let err = Checked::new(broken).map(|_| ()).expect_err("refused");
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn wake_ups_cross_in_a_sixth_answer_section_that_a_five_section_answer_lacks() {
    let mut a = AnswerWriter::default();
    let (key, reason, other) = (a.text("unpaid-o1"), a.text("order o1 unpaid"), a.text("dormancy"));
    a.wake(&Wake {
        key,
        reason: Some(reason),
        at: Some(1_800_000_000_000),
    });
    a.wake(&Wake {
        key: other,
        reason: None,
        at: None,
    });
    let mut out = Vec::new();
    a.finish(&mut out);
    let answer = Answer::read(&out).expect("reads");
    let wakes: Vec<_> = answer
        .wakes
        .iter()
        .map(|w| (answer.text(w.key), w.reason.map(|r| answer.text(r)), w.at))
        .collect();
    assert_eq!(
        wakes,
        [
            ("unpaid-o1", Some("order o1 unpaid"), Some(1_800_000_000_000)),
            ("dormancy", None, None)
        ]
    );

    // The same frame with five sections (what a 0.2.0 plugin writes): no
    // wake-ups.
    let mut five = out.clone();
    five[6..8].copy_from_slice(&5u16.to_le_bytes());
    assert!(Answer::read(&five).expect("reads").wakes.is_empty());

    // A wake-up naming a string that is not there, or a sixth section
    // outside the frame, is refused.
    let table = 8 + 16;
    let offset = u32::from_le_bytes(out[table + 40..table + 44].try_into().unwrap()) as usize;
    let mut bad = out.clone();
    bad[offset..offset + 4].copy_from_slice(&99u32.to_le_bytes());
    let err = Answer::read(&bad).err().expect("refused").to_string();
    assert!(err.contains("wakes[0] refers to string 99"), "{err}");
    let mut bad = out;
    bad[table + 44..table + 48].copy_from_slice(&1_000u32.to_le_bytes());
    let err = Answer::read(&bad).err().expect("refused").to_string();
    assert!(err.contains("section 5"), "{err}");
}

/// Where each section of a frame starts, from its table (`scalars` bytes of
/// scalars before it).
fn section_offsets(bytes: &[u8], scalars: usize) -> Vec<usize> {
    let count = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    (0..count)
        .map(|i| {
            let at = 8 + scalars + 8 * i;
            u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
        })
        .collect()
}

#[test]
fn writers_start_every_section_at_a_multiple_of_eight_bytes() {
    let input = valid();
    let mut findings = FindingsWriter::default();
    findings.tag("g", "name");
    let mut f = Vec::new();
    findings.finish(None, &mut f);
    let mut answer = AnswerWriter::default();
    let k = answer.text("odd-length key");
    answer.wake(&Wake {
        key: k,
        reason: None,
        at: None,
    });
    let mut a = Vec::new();
    answer.finish(&mut a);
    for (bytes, scalars) in [(&input, 32), (&f, 8), (&a, 16)] {
        let offsets = section_offsets(bytes, scalars);
        assert!(offsets.iter().all(|o| o % rulehost_layout::ALIGN == 0), "{offsets:?}");
    }
}

#[test]
fn an_input_writes_a_short_string_once_and_a_loaded_profile_shares_its_atoms() {
    let mut w = InputWriter::default();
    let purchase = w.text("purchase");
    let long = "x".repeat(rulehost_layout::input::INTERNED_BYTES + 1);
    let (long1, long2) = (w.text(&long), w.text(&long));
    assert_eq!(w.text("purchase"), purchase, "a short string is written once");
    assert_ne!(long1, long2, "a long one each time it is added");
    assert_ne!(w.text("refund"), purchase);
    // A kept profile loaded into a writer: the trigger's kind finds the
    // profile's atom, as it would have in the frame written in one go.
    let bytes = valid();
    let input = Input::read(&bytes).expect("reads");
    let kept = input.events.get(0).expect("an event").kind;
    let mut w = InputWriter::default();
    w.load_profile(&input);
    assert_eq!(w.text(input.text(kept)), kept);
    w.clear();
    assert_eq!(w.text("refund"), 0, "clear forgets the strings");
}
