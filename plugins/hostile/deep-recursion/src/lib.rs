//! A plugin that recurses without end: the host must trap it cleanly when
//! its wasm stack is exhausted.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Recurses without end.
#[derive(Default)]
pub struct DeepRecursion;

#[inline(never)]
#[allow(unconditional_recursion, reason = "recursing without end is this plugin's job")]
fn descend(depth: u64) -> u64 {
    // The padding keeps each frame large and the black boxes keep the
    // optimiser from turning the recursion into a loop.
    let pad = std::hint::black_box([depth; 16]);
    std::hint::black_box(descend(depth + 1)) + pad[(depth % 16) as usize]
}

impl Plugin for DeepRecursion {
    fn tag(&self, _ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let depth = descend(std::hint::black_box(0));
        Ok(vec![
            Tag::new("never", depth.to_string()).rule("r").reason("unreachable"),
        ])
    }
}

rulehost_sdk::export!(DeepRecursion);
