//! A plugin that panics in its tag stage: the host must answer
//! `plugin_trap` with the panic message and serve the next decision.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Panics.
#[derive(Default)]
pub struct Trap;

impl Plugin for Trap {
    fn tag(&self, _ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        panic!("deliberate panic for customer {}", profile.customer_id());
    }
}

rulehost_sdk::export!(Trap);
