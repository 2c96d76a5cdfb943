//! A plugin whose tag stage never returns: the host must stop it at the
//! decision's deadline (or when its fuel runs out) and keep serving. With
//! the config key `spin` (a count) it is a legitimate long decision
//! instead: it spins that many times and answers no tags.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Loops forever, or `spin` times.
#[derive(Default)]
pub struct LoopForever;

impl Plugin for LoopForever {
    fn tag(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let spins: i64 = ctx.config().or("spin", i64::MAX)?;
        let mut n: i64 = 0;
        while n < spins {
            n = std::hint::black_box(n.wrapping_add(1));
        }
        Ok(Vec::new())
    }
}

rulehost_sdk::export!(LoopForever);
