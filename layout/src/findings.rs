//! The findings frame (`RHF2`): what the pipeline has concluded before a
//! `score` or `target` stage, written by the host and read by the plugin.
//!
//! Scalars (8 bytes): `stage` (u8, an index of [`STAGES`](crate::STAGES)
//! or 255), 7 bytes of padding. Sections: 0 strings, 1 ends, 2 tags
//! ([`TagKey`]), 3 scores ([`ScoreValue`]).

use crate::{
    FrameWriter, LayoutError, NO_STAGE, Record, Records, ScoreValue, Strings, TagKey, check_atoms, check_stage, frame,
    stage_at,
};

const MAGIC: &[u8; 4] = b"RHF2";
const SCALARS: usize = 8;
const STRIDES: [usize; 4] = [1, 4, TagKey::STRIDE, ScoreValue::STRIDE];

/// A findings frame, checked like an [`Input`](crate::input::Input).
#[derive(Clone, Copy)]
pub struct Findings<'a> {
    /// The stage so far (an index of `STAGES`).
    pub stage: Option<u8>,
    /// The strings the atoms name.
    pub strings: Strings<'a>,
    /// Every tag so far.
    pub tags: Records<'a, TagKey>,
    /// Every score so far.
    pub scores: Records<'a, ScoreValue>,
}

impl<'a> Findings<'a> {
    /// Reads and checks a frame.
    pub fn read(bytes: &'a [u8]) -> Result<Self, LayoutError> {
        let f = frame(bytes, MAGIC, SCALARS, STRIDES)?;
        check_stage(f.scalars[0], "findings stage")?;
        let [text, ends, tags, scores] = f.sections;
        let findings = Self {
            stage: stage_at(f.scalars, 0),
            strings: Strings::new(text, ends)?,
            tags: Records::new(tags),
            scores: Records::new(scores),
        };
        check_atoms("tags", findings.tags, &findings.strings, |t| {
            [Some(t.group), Some(t.name)]
        })?;
        check_atoms("scores", findings.scores, &findings.strings, |s| [Some(s.name)])?;
        Ok(findings)
    }

    /// The string behind an atom of this frame (checked when it was read).
    pub fn text(&self, atom: u32) -> &'a str {
        self.strings.get(atom).unwrap_or_default()
    }
}

/// Writes findings frames; reuse it like an
/// [`InputWriter`](crate::input::InputWriter).
#[derive(Default)]
pub struct FindingsWriter {
    frame: FrameWriter<4>,
}

impl FindingsWriter {
    /// Empties it for the next frame.
    pub fn clear(&mut self) {
        self.frame.clear();
    }

    /// Adds a tag.
    pub fn tag(&mut self, group: &str, name: &str) {
        let tag = TagKey {
            group: self.frame.text(group),
            name: self.frame.text(name),
        };
        self.frame.record(2, &tag);
    }

    /// Adds a score.
    pub fn score(&mut self, name: &str, value: f64) {
        let score = ScoreValue {
            name: self.frame.text(name),
            value,
        };
        self.frame.record(3, &score);
    }

    /// Writes the frame into `out` (emptied first).
    pub fn finish(&self, stage: Option<u8>, out: &mut Vec<u8>) {
        let mut s = [0u8; SCALARS];
        s[0] = stage.unwrap_or(NO_STAGE);
        self.frame.finish(MAGIC, &s, STRIDES, out);
    }
}
