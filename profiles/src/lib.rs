//! # rulehost-profiles
//!
//! What the host keeps of each customer: the events a brand sends, folded
//! into the profile plugins see ("渐进式画像", a profile built up from
//! every channel), within bounds.
//!
//! A [`Kept`] profile is the plugin's [`Profile`] (its prior decision is
//! kept apart, by the store, from what decisions conclude) and when each
//! attribute and identity was last set, so that an older update arriving
//! late never overwrites a newer one. Folding is a union: the same events
//! folded in any order, or into two profiles that are then merged by an
//! `identify`, give the same profile.
//!
//! [`Kept::encode`] writes the form the store keeps: the profile as a
//! profile frame (`rulehost_input::profile`), which a decision by id copies
//! into its input without reading any JSON, then the times.

use std::collections::BTreeMap;

use rulehost_input::InputLimits;
use rulehost_layout::input::Input;
use rulehost_model::events::{ATTRIBUTES, EventIn, IDENTIFY};
use rulehost_model::{Event, Profile, Timestamp};
use serde::{Deserialize, Serialize};

/// How much history a profile keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Events kept at most (the newest).
    pub events: usize,
    /// Days of events kept, counted back from the newest fold.
    pub days: u32,
}

/// When each attribute and identity was last set (removed attributes
/// keep their time, so a late older update does not bring them back).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Times {
    /// By attribute key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Timestamp>,
    /// By identity kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identities: BTreeMap<String, Timestamp>,
}

/// A customer's profile as the host keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// What plugins see (its `prior` is always empty here).
    pub profile: Profile,
    /// When its attributes and identities were set.
    pub times: Times,
}

/// Why kept bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a kept profile does not read: {0}")]
pub struct Unreadable(String);

const MAGIC: &[u8; 4] = b"RHK1";

impl Kept {
    /// A customer the host knows nothing of yet.
    pub fn new(customer_id: &str) -> Self {
        Self {
            profile: Profile::with_id(customer_id),
            times: Times::default(),
        }
    }

    /// Folds one event in: an `identify` sets identities, an `attributes`
    /// event sets attributes (each only if it is not older than what is
    /// there), any other kind joins the events in time order (after events
    /// at the same instant).
    pub fn take(&mut self, event: &EventIn) {
        match event.kind.as_str() {
            IDENTIFY => {
                for (kind, id) in event.linked_ids() {
                    if newer(&mut self.times.identities, kind, event.at) {
                        self.profile.identities.insert(kind.to_owned(), id.to_owned());
                    }
                }
            }
            ATTRIBUTES => {
                for (key, value) in &event.props {
                    if newer(&mut self.times.attributes, key, event.at) {
                        match value {
                            Some(value) => self.profile.attributes.insert(key.clone(), value.clone()),
                            None => self.profile.attributes.remove(key),
                        };
                    }
                }
            }
            _ => insert_event(&mut self.profile.events, event.event()),
        }
    }

    /// Takes in another profile of the same person (ids linked by an
    /// `identify`): its events join these, and of an attribute or identity
    /// both have, the one set later stays.
    pub fn absorb(&mut self, other: Kept) {
        for event in other.profile.events {
            insert_event(&mut self.profile.events, event);
        }
        merge(
            &mut self.profile.attributes,
            &mut self.times.attributes,
            other.profile.attributes,
            other.times.attributes,
        );
        merge(
            &mut self.profile.identities,
            &mut self.times.identities,
            other.profile.identities,
            other.times.identities,
        );
    }

    /// Drops the events past `bounds`: those more than `days` before `now`,
    /// then the oldest past `events`. Returns how many were dropped.
    pub fn bound(&mut self, now: Timestamp, bounds: Bounds) -> usize {
        let events = &mut self.profile.events;
        let before = events.len();
        let horizon = now.0.saturating_sub(i64::from(bounds.days) * 86_400_000);
        let old = events.partition_point(|e| e.at.0 < horizon);
        let over = (before - old).saturating_sub(bounds.events);
        events.drain(..old + over);
        before - events.len()
    }

    /// The kept form: a profile frame, then the times.
    pub fn encode(&self, limits: &InputLimits) -> Result<Vec<u8>, rulehost_model::InvalidInput> {
        let mut frame = Vec::new();
        rulehost_input::profile::profile_frame(&self.profile, limits, &mut frame)?;
        let times = serde_json::to_vec(&self.times).map_err(|e| rulehost_model::InvalidInput(e.to_string()))?;
        let mut out = Vec::with_capacity(8 + frame.len() + times.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
        out.extend_from_slice(&times);
        Ok(out)
    }

    /// Reads the kept form back.
    pub fn decode(bytes: &[u8]) -> Result<Self, Unreadable> {
        let (frame, times) = split(bytes)?;
        let input = Input::read(frame).map_err(|e| Unreadable(e.to_string()))?;
        let profile = rulehost_input::profile::profile_of(&input);
        let times = serde_json::from_slice(times).map_err(|e| Unreadable(format!("its times: {e}")))?;
        Ok(Self { profile, times })
    }
}

/// The profile frame of a kept profile, for a decision by id to copy (it
/// is checked when it is loaded).
pub fn frame_of(bytes: &[u8]) -> Result<&[u8], Unreadable> {
    split(bytes).map(|(frame, _)| frame)
}

fn split(bytes: &[u8]) -> Result<(&[u8], &[u8]), Unreadable> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(Unreadable("not a kept profile (magic)".into()));
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let rest = &bytes[8..];
    if rest.len() < len {
        return Err(Unreadable(format!(
            "its frame of {len} bytes is longer than the {} bytes kept",
            rest.len()
        )));
    }
    Ok(rest.split_at(len))
}

/// Whether an update at `at` of `key` is not older than the last one;
/// records it if so.
fn newer(times: &mut BTreeMap<String, Timestamp>, key: &str, at: Timestamp) -> bool {
    match times.get_mut(key) {
        Some(last) if *last > at => false,
        Some(last) => {
            *last = at;
            true
        }
        None => {
            times.insert(key.to_owned(), at);
            true
        }
    }
}

/// `events` with `event` in time order, after those at the same instant.
fn insert_event(events: &mut Vec<Event>, event: Event) {
    let at = events.partition_point(|e| e.at <= event.at);
    events.insert(at, event);
}

/// Takes `theirs` into `ours`, keeping of each key the value set later.
fn merge<V>(
    ours: &mut BTreeMap<String, V>,
    our_times: &mut BTreeMap<String, Timestamp>,
    mut theirs: BTreeMap<String, V>,
    their_times: BTreeMap<String, Timestamp>,
) {
    for (key, at) in their_times {
        if newer(our_times, &key, at) {
            match theirs.remove(&key) {
                Some(value) => ours.insert(key, value),
                None => ours.remove(&key),
            };
        }
    }
}

#[cfg(test)]
mod tests;
