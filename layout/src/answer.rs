//! The answer frame (`RHO2`): what one stage of a plugin returns, written
//! by the plugin and read — and checked — by the host.
//!
//! Scalars (16 bytes): `stage` (u8, an index of [`STAGES`](crate::STAGES)
//! or 255; only a `score` answer sets one), 3 bytes of padding, the
//! stage's `reason` and `rule_id` (atoms; [`NONE`] without a
//! stage), 4 bytes of padding. Sections: 0 strings, 1 ends, 2 tags
//! ([`Tag`]), 3 scores ([`Score`]), 4 proposals ([`Proposal`]), and since
//! contract 0.3.0 5 wake-ups ([`Wake`]): a frame of five sections (a 0.2.0
//! plugin's) asks for none, and a 0.2.0 reader ignores the sixth.

use crate::{
    FrameWriter, LayoutError, NO_STAGE, NONE, Proposal, Record, Records, Score, Strings, Tag, Wake, check_atoms,
    check_stage, frame, optional_section, refuse, stage_at, u32_at,
};

const MAGIC: &[u8; 4] = b"RHO2";
const SCALARS: usize = 16;
/// The sections every answer has (contract 0.2.0's).
const STRIDES: [usize; 5] = [1, 4, Tag::STRIDE, Score::STRIDE, Proposal::STRIDE];
/// Every section a writer writes (contract 0.3.0's).
const WRITTEN: [usize; 6] = [1, 4, Tag::STRIDE, Score::STRIDE, Proposal::STRIDE, Wake::STRIDE];

/// The stage a plugin places the customer in, with why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageVerdict {
    /// An index of `STAGES`.
    pub stage: u8,
    /// Why (an atom).
    pub reason: u32,
    /// The rule (an atom).
    pub rule_id: u32,
}

/// An answer frame, checked: the frame's structure, UTF-8 strings, every
/// atom naming a string, the stage known. What the answer says (bounds,
/// catalog offers, finite scores) is the host's pipeline to check.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    /// The stage, from a `score` answer.
    pub stage: Option<StageVerdict>,
    /// The strings the atoms name.
    pub strings: Strings<'a>,
    /// Tags, from a `tag` answer.
    pub tags: Records<'a, Tag>,
    /// Scores, from a `score` answer.
    pub scores: Records<'a, Score>,
    /// Proposals, from a `target` answer.
    pub proposals: Records<'a, Proposal>,
    /// Wake-ups, from any stage of a 0.3.0 plugin.
    pub wakes: Records<'a, Wake>,
}

impl<'a> Answer<'a> {
    /// Reads and checks a frame.
    pub fn read(bytes: &'a [u8]) -> Result<Self, LayoutError> {
        let f = frame(bytes, MAGIC, SCALARS, STRIDES)?;
        let s = f.scalars;
        check_stage(s[0], "answer stage")?;
        let [text, ends, tags, scores, proposals] = f.sections;
        let strings = Strings::new(text, ends)?;
        let stage = stage_at(s, 0).map(|stage| StageVerdict {
            stage,
            reason: u32_at(s, 4),
            rule_id: u32_at(s, 8),
        });
        let wakes = optional_section(bytes, SCALARS, 5, Wake::STRIDE).map_err(|e| LayoutError(format!("RHO2 {e}")))?;
        let answer = Self {
            stage,
            strings,
            tags: Records::new(tags),
            scores: Records::new(scores),
            proposals: Records::new(proposals),
            wakes: Records::new(wakes),
        };
        if let Some(v) = stage
            && [v.reason, v.rule_id].iter().any(|&a| a as usize >= strings.len())
        {
            return refuse("the stage's reason or rule id names no string");
        }
        check_atoms("tags", answer.tags, &strings, |t| {
            [Some(t.group), Some(t.name), Some(t.reason), Some(t.rule_id)]
        })?;
        check_atoms("scores", answer.scores, &strings, |s| {
            [Some(s.name), Some(s.reason), Some(s.rule_id)]
        })?;
        check_atoms("proposals", answer.proposals, &strings, |p| {
            [Some(p.offer_id), Some(p.channel), Some(p.reason), Some(p.rule_id)]
        })?;
        check_atoms("wakes", answer.wakes, &strings, |w| [Some(w.key), w.reason])?;
        Ok(answer)
    }

    /// The string behind an atom of this frame (checked when it was read).
    pub fn text(&self, atom: u32) -> &'a str {
        self.strings.get(atom).unwrap_or_default()
    }
}

/// Writes answer frames; reuse it like an
/// [`InputWriter`](crate::input::InputWriter).
#[derive(Default)]
pub struct AnswerWriter {
    frame: FrameWriter<6>,
    stage: Option<StageVerdict>,
}

impl AnswerWriter {
    /// Empties it for the next frame.
    pub fn clear(&mut self) {
        self.frame.clear();
        self.stage = None;
    }

    /// Adds a string; returns its atom.
    pub fn text(&mut self, s: &str) -> u32 {
        self.frame.text(s)
    }

    /// Adds a tag.
    pub fn tag(&mut self, r: &Tag) {
        self.frame.record(2, r);
    }

    /// Adds a score.
    pub fn score(&mut self, r: &Score) {
        self.frame.record(3, r);
    }

    /// Adds a proposal.
    pub fn proposal(&mut self, r: &Proposal) {
        self.frame.record(4, r);
    }

    /// Adds a wake-up.
    pub fn wake(&mut self, r: &Wake) {
        self.frame.record(5, r);
    }

    /// Sets the stage.
    pub fn stage(&mut self, verdict: StageVerdict) {
        self.stage = Some(verdict);
    }

    /// Writes the frame into `out` (emptied first).
    pub fn finish(&self, out: &mut Vec<u8>) {
        let mut s = [0u8; SCALARS];
        let (stage, reason, rule) = match self.stage {
            Some(v) => (v.stage, v.reason, v.rule_id),
            None => (NO_STAGE, NONE, NONE),
        };
        s[0] = stage;
        s[4..8].copy_from_slice(&reason.to_le_bytes());
        s[8..12].copy_from_slice(&rule.to_le_bytes());
        self.frame.finish(MAGIC, &s, WRITTEN, out);
    }
}
