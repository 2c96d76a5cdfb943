//! A plugin that tries to read what an earlier instance left in memory.
//!
//! Config `snoop.write` (a secret) makes it write `MARK` + the secret all
//! over its memory: a static buffer, the heap (the SDK's arena) and pages
//! it grows past the arena. Every run first scans all of its linear memory
//! for `MARK` and reports each secret it finds as a tag `found/<secret>`,
//! or `found/nothing`. The host must give every instance memory that holds
//! none of an earlier instance's data, whichever tenant ran it.
//!
//! The marker is kept XOR-masked in the code and unmasked only when
//! written, so the scan cannot find the plugin's own copy of it.

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// `MARK` XOR `MASK`: never present in memory in the clear until written.
const MASKED_MARK: [u8; 16] = *b"\x28\x2f\x36\x3f\x32\x35\x29\x2e\x77\x29\x3f\x39\x28\x3f\x2e\x60";
const MASK: u8 = 0x5a;
/// Bytes of the secret after the marker.
const SECRET: usize = 16;

static mut STATIC_AREA: [u8; 4096] = [0; 4096];

/// Leaves secrets and looks for others'.
#[derive(Default)]
pub struct MemorySnoop;

/// Bytes of linear memory (natively there is none to scan).
fn memory_len() -> usize {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    0
}

fn scan() -> Vec<String> {
    let len = memory_len();
    let mut found = Vec::new();
    let mut i = 0;
    while i + MASKED_MARK.len() + SECRET <= len {
        // SAFETY: every address below the memory size is readable; volatile
        // so the reads are not assumed to see only this program's writes.
        let at = |k: usize| unsafe { core::ptr::read_volatile((i + k) as *const u8) };
        if (0..MASKED_MARK.len()).all(|k| at(k) ^ MASK == MASKED_MARK[k]) {
            let secret: Vec<u8> = (0..SECRET).map(|k| at(MASKED_MARK.len() + k)).collect();
            let secret = String::from_utf8_lossy(&secret).trim_end_matches('\0').to_owned();
            if !found.contains(&secret) {
                found.push(secret);
            }
            i += MASKED_MARK.len();
        } else {
            i += 1;
        }
    }
    found
}

fn record(secret: &str) -> Vec<u8> {
    let mut record: Vec<u8> = MASKED_MARK.iter().map(|b| b ^ MASK).collect();
    let mut padded = secret.as_bytes().to_vec();
    padded.resize(SECRET, 0);
    record.extend_from_slice(&padded);
    record
}

fn write(secret: &str) {
    let record = record(secret);
    // SAFETY: single-threaded; nothing else refers to the static area.
    let area = unsafe { &mut *core::ptr::addr_of_mut!(STATIC_AREA) };
    for chunk in area.chunks_mut(record.len()) {
        chunk.copy_from_slice(&record[..chunk.len()]);
    }
    // Past the arena, so fresh pages are grown and written too.
    let heap: Vec<u8> = record.iter().copied().cycle().take(3 << 20).collect();
    core::hint::black_box(&heap);
    core::mem::forget(heap);
}

impl Plugin for MemorySnoop {
    fn tag(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let found = scan();
        if let Some(secret) = ctx.config().get("snoop.write") {
            write(&secret);
        }
        let mut tags: Vec<Tag> = found
            .iter()
            .map(|s| {
                Tag::new("found", s.as_str())
                    .rule("snoop.found")
                    .reason("left by an earlier instance")
            })
            .collect();
        if tags.is_empty() {
            tags.push(
                Tag::new("found", "nothing")
                    .rule("snoop.found")
                    .reason("memory held no marker"),
            );
        }
        if ctx.config().or("snoop.rescan", false)? {
            for secret in scan() {
                tags.push(Tag::new("rescan", secret).rule("snoop.rescan").reason("after writing"));
            }
        }
        Ok(tags)
    }
}

rulehost_sdk::export!(MemorySnoop);
