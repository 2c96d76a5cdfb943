//! Recency, frequency and monetary value, scored 1–5 and named as the ten
//! standard segments.
//!
//! ```
//! use rulehost_sdk::rfm::{Breakpoints, Rfm, Segment};
//! use rulehost_sdk::testing::TestInput;
//!
//! let input = TestInput::at("2026-03-07T10:00:00Z")
//!     .purchase("2026-03-05T09:00:00Z", 3_200)
//!     .purchase("2026-02-20T09:00:00Z", 2_800)
//!     .refund("2026-02-21T09:00:00Z", 800);
//! let rfm = Rfm::compute(&input.profile(), input.now(), Some(365));
//! assert_eq!(rfm.recency_days, Some(2));
//! assert_eq!(rfm.frequency, 2);
//! assert_eq!(rfm.monetary_minor, 5_200);
//!
//! let recency = Breakpoints::new([7, 30, 90, 180]).unwrap();
//! let frequency = Breakpoints::new([2, 3, 5, 8]).unwrap();
//! let r = recency.score_lower_is_better(rfm.recency_days);
//! let f = frequency.score(i64::from(rfm.frequency));
//! assert_eq!((r, f), (5, 2));
//! assert_eq!(Segment::of(r, f), Segment::PotentialLoyalists);
//! ```

use std::fmt;

use crate::Error;
use crate::config::{Config, invalid};
use crate::kinds;
use crate::time::Timestamp;
use crate::view::Profile;

/// Raw recency, frequency and monetary value of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfm {
    /// Whole days since the latest purchase at or before `now`, over the whole
    /// history; `None` if the customer never bought.
    pub recency_days: Option<i64>,
    /// Purchases inside the window.
    pub frequency: u32,
    /// Purchase amounts minus refund amounts inside the window, in minor
    /// units, never below zero. Sums saturate instead of overflowing.
    pub monetary_minor: i64,
}

impl Rfm {
    /// Computes RFM from the profile's past events. The window is the last
    /// `window_days` days before `now` (`None`: the whole history). Purchases
    /// and refunds without an amount, or with a negative one, count as zero.
    pub fn compute(profile: &Profile<'_>, now: Timestamp, window_days: Option<u32>) -> Self {
        let since = window_days.map(|d| now.plus_days(-i64::from(d)));
        let in_window = |at: Timestamp| since.is_none_or(|s| at > s);
        let mut last_purchase = None;
        let mut frequency = 0u32;
        let mut spent: i64 = 0;
        let mut refunded: i64 = 0;
        for event in profile.events() {
            let amount = event.amount_minor().unwrap_or(0).max(0);
            match event.kind() {
                kinds::PURCHASE => {
                    last_purchase = Some(event.at());
                    if in_window(event.at()) {
                        frequency = frequency.saturating_add(1);
                        spent = spent.saturating_add(amount);
                    }
                }
                kinds::REFUND if in_window(event.at()) => {
                    refunded = refunded.saturating_add(amount);
                }
                _ => {}
            }
        }
        Self {
            recency_days: last_purchase.map(|at| now.days_since(at)),
            frequency,
            monetary_minor: spent.saturating_sub(refunded).max(0),
        }
    }
}

/// Four ascending thresholds that cut a value into scores 1–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakpoints([i64; 4]);

impl Breakpoints {
    /// Breakpoints from four strictly ascending values.
    pub fn new(values: [i64; 4]) -> Result<Self, String> {
        if values.windows(2).all(|w| w[0] < w[1]) {
            Ok(Self(values))
        } else {
            Err(format!("breakpoints must be strictly ascending, got {values:?}"))
        }
    }

    /// Reads four ascending comma-separated numbers from config key `key`.
    pub fn from_config(config: &Config, key: &str) -> Result<Self, Error> {
        let values = config.list::<i64>(key)?;
        let raw = || config.get(key).unwrap_or_default();
        let four: [i64; 4] = values
            .try_into()
            .map_err(|_| invalid(key, &raw(), "4 comma-separated ascending numbers"))?;
        Self::new(four).map_err(|_| invalid(key, &raw(), "4 comma-separated ascending numbers"))
    }

    /// The thresholds.
    pub fn values(&self) -> [i64; 4] {
        self.0
    }

    /// Score where more is better (frequency, money): 1 plus the number of
    /// breakpoints at or below `value`.
    ///
    /// ```
    /// # use rulehost_sdk::rfm::Breakpoints;
    /// let b = Breakpoints::new([2, 3, 5, 8]).unwrap();
    /// assert_eq!([0, 2, 4, 5, 8, 100].map(|v| b.score(v)), [1, 2, 3, 4, 5, 5]);
    /// ```
    pub fn score(&self, value: i64) -> u8 {
        1 + self.0.iter().filter(|&&b| b <= value).count() as u8
    }

    /// Score where less is better (days since the last purchase): 5 minus the
    /// number of breakpoints below `value`; `None` (never) scores 1.
    ///
    /// ```
    /// # use rulehost_sdk::rfm::Breakpoints;
    /// let b = Breakpoints::new([7, 30, 90, 180]).unwrap();
    /// assert_eq!([0, 7, 8, 30, 90, 181].map(|d| b.score_lower_is_better(Some(d))), [5, 5, 4, 4, 3, 1]);
    /// assert_eq!(b.score_lower_is_better(None), 1);
    /// ```
    pub fn score_lower_is_better(&self, value: Option<i64>) -> u8 {
        match value {
            Some(v) => 5 - self.0.iter().filter(|&&b| b < v).count() as u8,
            None => 1,
        }
    }
}

/// The ten standard RFM segments, from recency and frequency scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment {
    /// R5 F4–5: bought recently, buy often.
    Champions,
    /// R3–4 F4–5: buy often, fairly recently.
    Loyal,
    /// R4–5 F2–3: recent with a few purchases.
    PotentialLoyalists,
    /// R5 F1: first purchase just now.
    New,
    /// R4 F1: one recent purchase.
    Promising,
    /// R3 F3: average, slipping.
    NeedAttention,
    /// R3 F1–2: few purchases, going quiet.
    AboutToSleep,
    /// R1–2 F3–4: used to buy, gone quiet.
    AtRisk,
    /// R1–2 F5: best customers, gone quiet.
    CantLoseThem,
    /// R1–2 F1–2: few purchases long ago.
    Hibernating,
}

impl Segment {
    /// Every segment.
    pub const ALL: [Segment; 10] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::PotentialLoyalists,
        Segment::New,
        Segment::Promising,
        Segment::NeedAttention,
        Segment::AboutToSleep,
        Segment::AtRisk,
        Segment::CantLoseThem,
        Segment::Hibernating,
    ];

    /// The segment for recency and frequency scores (each clamped to 1–5).
    ///
    /// ```
    /// # use rulehost_sdk::rfm::Segment;
    /// assert_eq!(Segment::of(5, 5), Segment::Champions);
    /// assert_eq!(Segment::of(1, 5), Segment::CantLoseThem);
    /// assert_eq!(Segment::of(3, 3), Segment::NeedAttention);
    /// ```
    pub fn of(r: u8, f: u8) -> Self {
        match (r.clamp(1, 5), f.clamp(1, 5)) {
            (5, 4..=5) => Segment::Champions,
            (3..=4, 4..=5) => Segment::Loyal,
            (4..=5, 2..=3) => Segment::PotentialLoyalists,
            (5, _) => Segment::New,
            (4, _) => Segment::Promising,
            (3, 3) => Segment::NeedAttention,
            (3, _) => Segment::AboutToSleep,
            (1..=2, 3..=4) => Segment::AtRisk,
            (1..=2, 5) => Segment::CantLoseThem,
            _ => Segment::Hibernating,
        }
    }

    /// The segment's tag name, e.g. "cant-lose-them".
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::PotentialLoyalists => "potential-loyalists",
            Segment::New => "new",
            Segment::Promising => "promising",
            Segment::NeedAttention => "need-attention",
            Segment::AboutToSleep => "about-to-sleep",
            Segment::AtRisk => "at-risk",
            Segment::CantLoseThem => "cant-lose-them",
            Segment::Hibernating => "hibernating",
        }
    }

    /// The score ranges that define the segment, e.g. "R5 F4-5".
    pub fn definition(self) -> &'static str {
        match self {
            Segment::Champions => "R5 F4-5",
            Segment::Loyal => "R3-4 F4-5",
            Segment::PotentialLoyalists => "R4-5 F2-3",
            Segment::New => "R5 F1",
            Segment::Promising => "R4 F1",
            Segment::NeedAttention => "R3 F3",
            Segment::AboutToSleep => "R3 F1-2",
            Segment::AtRisk => "R1-2 F3-4",
            Segment::CantLoseThem => "R1-2 F5",
            Segment::Hibernating => "R1-2 F1-2",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native;
    use crate::testing::TestInput;

    #[test]
    fn every_score_pair_has_exactly_the_segment_of_the_reference_table() {
        // The reference table from DESIGN.md §1, cell by cell.
        let expected = |r: u8, f: u8| match (r, f) {
            (5, 4 | 5) => "champions",
            (3 | 4, 4 | 5) => "loyal",
            (4 | 5, 2 | 3) => "potential-loyalists",
            (5, 1) => "new",
            (4, 1) => "promising",
            (3, 3) => "need-attention",
            (3, 1 | 2) => "about-to-sleep",
            (1 | 2, 3 | 4) => "at-risk",
            (1 | 2, 5) => "cant-lose-them",
            (1 | 2, 1 | 2) => "hibernating",
            _ => unreachable!(),
        };
        let mut seen = std::collections::HashSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                let segment = Segment::of(r, f);
                assert_eq!(segment.as_str(), expected(r, f), "R{r} F{f}");
                seen.insert(segment);
            }
        }
        assert_eq!(seen.len(), Segment::ALL.len());
    }

    #[test]
    fn breakpoints_must_ascend() {
        assert!(Breakpoints::new([1, 2, 2, 3]).is_err());
        assert!(Breakpoints::new([4, 3, 2, 1]).is_err());
    }

    #[test]
    fn breakpoints_from_config_need_exactly_four_ascending_values() {
        native::set_config([("ok", "1,2,3,4"), ("three", "1,2,3"), ("down", "4,3,2,1")]);
        let config = Config::new();
        assert_eq!(Breakpoints::from_config(&config, "ok").unwrap().values(), [1, 2, 3, 4]);
        for key in ["three", "down"] {
            let err = Breakpoints::from_config(&config, key).unwrap_err();
            assert_eq!(err.code, "config_invalid", "{key}");
            assert!(
                err.message.contains("4 comma-separated ascending numbers"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn window_limits_frequency_and_money_but_not_recency() {
        let input = TestInput::at("2026-03-07T00:00:00Z")
            .purchase("2025-01-01T00:00:00Z", 10_000)
            .purchase("2026-03-01T00:00:00Z", 500);
        let rfm = Rfm::compute(&input.profile(), input.now(), Some(30));
        assert_eq!(rfm.recency_days, Some(6));
        assert_eq!(rfm.frequency, 1);
        assert_eq!(rfm.monetary_minor, 500);
        let all = Rfm::compute(&input.profile(), input.now(), None);
        assert_eq!((all.frequency, all.monetary_minor), (2, 10_500));
    }

    #[test]
    fn future_events_and_unknown_kinds_are_ignored() {
        let input = TestInput::at("2026-03-07T00:00:00Z")
            .purchase("2026-03-01T00:00:00Z", 500)
            .purchase("2026-03-09T00:00:00Z", 900)
            .event("teleport", "2026-03-02T00:00:00Z");
        let rfm = Rfm::compute(&input.profile(), input.now(), None);
        assert_eq!(
            rfm,
            Rfm {
                recency_days: Some(6),
                frequency: 1,
                monetary_minor: 500
            }
        );
    }

    #[test]
    fn refunds_beyond_spend_floor_at_zero_and_huge_sums_saturate() {
        let refunded = TestInput::at("2026-03-07T00:00:00Z")
            .purchase("2026-03-01T00:00:00Z", 500)
            .refund("2026-03-02T00:00:00Z", 900);
        assert_eq!(
            Rfm::compute(&refunded.profile(), refunded.now(), None).monetary_minor,
            0
        );

        let huge = TestInput::at("2026-03-07T00:00:00Z")
            .purchase("2026-03-01T00:00:00Z", i64::MAX)
            .purchase("2026-03-02T00:00:00Z", i64::MAX);
        assert_eq!(Rfm::compute(&huge.profile(), huge.now(), None).monetary_minor, i64::MAX);
    }

    #[test]
    fn no_purchases_means_no_recency() {
        let input = TestInput::at("2026-03-07T00:00:00Z").event(kinds::VIEW, "2026-03-01T00:00:00Z");
        let rfm = Rfm::compute(&input.profile(), input.now(), None);
        assert_eq!(
            rfm,
            Rfm {
                recency_days: None,
                frequency: 0,
                monetary_minor: 0
            }
        );
    }
}
