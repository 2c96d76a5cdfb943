//! A plugin that writes log lines without end: the host must cut it off.

use rulehost_sdk::{Ctx, Error, Level, Plugin, Profile, Tag};

/// Logs without end.
#[derive(Default)]
pub struct LogFlood;

impl Plugin for LogFlood {
    fn tag(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let mut n: u64 = 0;
        loop {
            ctx.log(Level::Info, format!("line {n}: still here"));
            n += 1;
        }
    }
}

rulehost_sdk::export!(LogFlood);
