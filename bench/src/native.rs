//! The same plugin crate called natively: the host's input frame is run
//! through `rulehost_sdk::native::FrameSession`,
//! exactly the code the guest runs, without the sandbox. What a brand
//! would otherwise run is its rules on data it already holds, so the
//! native figure is the rules alone: everything a decision needs is built
//! first ([`prepare`]), outside the timed region ([`rules`]).

use rulehost::input::InputLimits;
use rulehost::model::Request;
use rulehost_sdk::Plugin;
use rulehost_sdk::native::{FrameSession, Session};
use rulehost_sdk::testing::TestFindings;

/// One decision's input frame with the findings frames each later stage
/// sees, all written before the rules run.
pub struct Prepared {
    input: Vec<u8>,
    scoring: Vec<u8>,
    targeting: Vec<u8>,
}

/// Builds what [`rules`] needs for `request`: the host's input frame, and
/// the findings of a first native run.
pub fn prepare<P: Plugin>(request: &Request) -> Result<Prepared, String> {
    let input = rulehost::input::build(request, &InputLimits::default()).map_err(|e| e.to_string())?;
    let session = Session::<P>::new(input.clone());
    let tags = session.tag().map_err(|e| e.message)?;
    let with_tags = tags.iter().fold(TestFindings::new(), |f, t| f.tag(&t.group, &t.name));
    let scoring = session.score(&with_tags.to_frame()).map_err(|e| e.message)?;
    let mut targeting = scoring
        .scores
        .iter()
        .fold(with_tags.clone(), |f, s| f.score(&s.name, s.value));
    if let Some(verdict) = &scoring.stage {
        targeting = targeting.stage(verdict.stage);
    }
    Ok(Prepared {
        input,
        scoring: with_tags.to_frame(),
        targeting: targeting.to_frame(),
    })
}

/// The plugin's rules alone, natively: the session the guest runs over
/// input already built, and its three stages, answers written as the
/// guest writes them. Returns the answers' size, so the work cannot be
/// optimised away.
pub fn rules<P: Plugin>(prepared: Prepared) -> Result<usize, String> {
    let session = FrameSession::<P>::new(prepared.input);
    let tags = session.tag().map_err(|e| e.message)?;
    let scoring = session.score(&prepared.scoring).map_err(|e| e.message)?;
    let proposals = session.target(&prepared.targeting).map_err(|e| e.message)?;
    Ok(tags.len() + scoring.len() + proposals.len())
}
