//! A plugin whose tag stage never returns: the host must stop it at the
//! decision's deadline (or when its fuel runs out) and keep serving.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Loops forever.
#[derive(Default)]
pub struct LoopForever;

impl Plugin for LoopForever {
    fn tag(&self, _ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

rulehost_sdk::export!(LoopForever);
