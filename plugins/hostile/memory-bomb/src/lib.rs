//! A plugin that grabs memory a mebibyte at a time, writing to every 4 KiB
//! page so it is really resident, until the host refuses to grow its memory.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Allocates without end.
#[derive(Default)]
pub struct MemoryBomb;

impl Plugin for MemoryBomb {
    fn tag(&self, _ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Zeroed allocations of fresh memory are not cleared byte by
            // byte, so the bomb grows fast instead of burning its fuel.
            let mut block = vec![0u8; 1 << 20];
            for page in block.chunks_mut(4096) {
                page[0] = 0xA5;
            }
            hoard.push(std::hint::black_box(block));
        }
    }
}

rulehost_sdk::export!(MemoryBomb);
