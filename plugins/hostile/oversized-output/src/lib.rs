//! A plugin that answers with far more tags than the host accepts: by
//! default a million (config key `count` changes it).

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Returns too many tags.
#[derive(Default)]
pub struct OversizedOutput;

impl Plugin for OversizedOutput {
    fn tag(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let count: u32 = ctx.config().or("count", 1_000_000)?;
        // Empty strings do not allocate, so a million tags fit in memory.
        Ok((0..count).map(|_| Tag::new(String::new(), String::new())).collect())
    }
}

rulehost_sdk::export!(OversizedOutput);
