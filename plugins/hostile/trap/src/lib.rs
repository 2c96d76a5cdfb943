//! A plugin that panics in its tag stage: the host must answer
//! `plugin_trap` with the panic message and serve the next decision. With
//! the config key `over_events` (a count) it panics only for customers
//! with more events than that, and answers no tags for the others: a
//! plugin that works until it meets a customer of a shape nobody tried.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Panics (for every customer, or for those with many events).
#[derive(Default)]
pub struct Trap;

impl Plugin for Trap {
    fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let over: Option<u32> = ctx.config().optional("over_events")?;
        if over.is_some_and(|over| profile.events().len() <= over as usize) {
            return Ok(Vec::new());
        }
        panic!("deliberate panic for customer {}", profile.customer_id());
    }
}

rulehost_sdk::export!(Trap);
