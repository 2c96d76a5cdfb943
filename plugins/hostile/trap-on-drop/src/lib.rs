//! A plugin that answers every stage and then panics when the host drops
//! its session: the decision must not pass as a success with the trap
//! unseen.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Tags every customer, then panics in its destructor.
#[derive(Default)]
pub struct TrapOnDrop;

impl Plugin for TrapOnDrop {
    fn tag(&self, _ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        Ok(vec![
            Tag::new("test", "seen")
                .rule("trap-on-drop.tag")
                .reason("every customer is tagged"),
        ])
    }
}

impl Drop for TrapOnDrop {
    fn drop(&mut self) {
        panic!("deliberate panic while the session is dropped");
    }
}

rulehost_sdk::export!(TrapOnDrop);
