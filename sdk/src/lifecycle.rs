//! Placing a customer in a lifecycle stage from purchase history, with
//! thresholds each brand sets in config.
//!
//! The rules, in order (the first that holds wins):
//! 1. no purchase yet → *introduction*;
//! 2. the last purchase is more than `churned_after_days` ago → *churned*;
//! 3. … more than `dormant_after_days` ago → *dormancy*;
//! 4. the customer bought again after a gap of more than
//!    `dormant_after_days`, or the previous decision had them dormant or
//!    churned → *reactivated*;
//! 5. at least `maturity_min_purchases` purchases in the window → *maturity*;
//! 6. at least `growth_min_purchases` → *growth*;
//! 7. otherwise → *introduction*.
//!
//! ```
//! use rulehost_sdk::lifecycle::Lifecycle;
//! use rulehost_sdk::testing::TestInput;
//! use rulehost_sdk::Stage;
//!
//! let rules = Lifecycle {
//!     dormant_after_days: 14,
//!     churned_after_days: 45,
//!     growth_min_purchases: 3,
//!     maturity_min_purchases: 10,
//!     window_days: Some(90),
//!     rule_prefix: "coffee.stage".into(),
//! };
//! let input = TestInput::at("2026-03-07T10:00:00Z")
//!     .purchase("2026-03-01T09:00:00Z", 2_800)
//!     .purchase("2026-03-03T09:00:00Z", 3_000)
//!     .purchase("2026-03-06T09:00:00Z", 2_800);
//! let verdict = rules.classify(&input.profile(), input.now());
//! assert_eq!(verdict.stage, Stage::Growth);
//! assert_eq!(verdict.rule_id, "coffee.stage.growth");
//! assert_eq!(verdict.reason, "3 purchases in the last 90 days (growth from 3, maturity from 10)");
//! ```

use crate::Error;
use crate::config::{Config, invalid};
use crate::kinds;
use crate::output::{Stage, StageVerdict};
use crate::time::Timestamp;
use crate::view::Profile;

/// Stage thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    /// Days without a purchase after which a customer is dormant.
    pub dormant_after_days: u32,
    /// Days without a purchase after which a customer has churned; more than
    /// `dormant_after_days`.
    pub churned_after_days: u32,
    /// Purchases in the window that make a growth customer.
    pub growth_min_purchases: u32,
    /// Purchases in the window that make a mature customer; at least
    /// `growth_min_purchases`.
    pub maturity_min_purchases: u32,
    /// The window for counting purchases in days; `None` counts all history.
    pub window_days: Option<u32>,
    /// Rule ids are `{rule_prefix}.{stage}`.
    pub rule_prefix: String,
}

impl Lifecycle {
    /// Reads the thresholds from config keys `{prefix}.dormant_after_days`,
    /// `{prefix}.churned_after_days`, `{prefix}.growth_min_purchases`,
    /// `{prefix}.maturity_min_purchases` (all required) and
    /// `{prefix}.window_days` (optional; 0 or unset counts all history), and
    /// checks that they are consistent.
    pub fn from_config(config: &Config, prefix: &str, rule_prefix: &str) -> Result<Self, Error> {
        let key = |name: &str| format!("{prefix}.{name}");
        let rules = Self {
            dormant_after_days: config.required(&key("dormant_after_days"))?,
            churned_after_days: config.required(&key("churned_after_days"))?,
            growth_min_purchases: config.required(&key("growth_min_purchases"))?,
            maturity_min_purchases: config.required(&key("maturity_min_purchases"))?,
            window_days: config.optional::<u32>(&key("window_days"))?.filter(|&d| d > 0),
            rule_prefix: rule_prefix.to_owned(),
        };
        if rules.churned_after_days <= rules.dormant_after_days {
            let name = key("churned_after_days");
            let raw = config.get(&name).unwrap_or_default();
            return Err(invalid(
                &name,
                &raw,
                &format!(
                    "more than {} (`{}`)",
                    rules.dormant_after_days,
                    key("dormant_after_days")
                ),
            ));
        }
        if rules.maturity_min_purchases < rules.growth_min_purchases {
            let name = key("maturity_min_purchases");
            let raw = config.get(&name).unwrap_or_default();
            return Err(invalid(
                &name,
                &raw,
                &format!(
                    "at least {} (`{}`)",
                    rules.growth_min_purchases,
                    key("growth_min_purchases")
                ),
            ));
        }
        Ok(rules)
    }

    /// The customer's stage at `now`, with the rule and reason.
    pub fn classify(&self, profile: &Profile<'_>, now: Timestamp) -> StageVerdict {
        let verdict = |stage: Stage, reason: String| {
            StageVerdict::new(stage)
                .rule(format!("{}.{}", self.rule_prefix, stage.as_str()))
                .reason(reason)
        };
        let mut purchases = profile.events_of(kinds::PURCHASE).rev();
        let Some(last) = purchases.next() else {
            return verdict(Stage::Introduction, "no purchase yet".into());
        };
        let days = now.days_since(last.at());
        if days > i64::from(self.churned_after_days) {
            return verdict(
                Stage::Churned,
                format!(
                    "last purchase {days} days ago (churned after {})",
                    self.churned_after_days
                ),
            );
        }
        if days > i64::from(self.dormant_after_days) {
            return verdict(
                Stage::Dormancy,
                format!(
                    "last purchase {days} days ago (dormant after {})",
                    self.dormant_after_days
                ),
            );
        }
        if let Some(previous) = purchases.next() {
            let gap = last.at().days_since(previous.at());
            if gap > i64::from(self.dormant_after_days) {
                return verdict(
                    Stage::Reactivated,
                    format!(
                        "bought {days} days ago after a {gap}-day gap (dormant after {})",
                        self.dormant_after_days
                    ),
                );
            }
        }
        if let Some(prior @ (Stage::Dormancy | Stage::Churned)) = profile.prior_stage() {
            return verdict(
                Stage::Reactivated,
                format!("was {prior} at the last decision and bought {days} days ago"),
            );
        }
        let since = self.window_days.map(|d| now.plus_days(-i64::from(d)));
        let count = profile
            .events_of(kinds::PURCHASE)
            .filter(|e| since.is_none_or(|s| e.at() > s))
            .count();
        let window = match self.window_days {
            Some(d) => format!("in the last {d} days"),
            None => "in total".to_owned(),
        };
        let thresholds = format!(
            "(growth from {}, maturity from {})",
            self.growth_min_purchases, self.maturity_min_purchases
        );
        let stage = if count >= self.maturity_min_purchases as usize {
            Stage::Maturity
        } else if count >= self.growth_min_purchases as usize {
            Stage::Growth
        } else {
            Stage::Introduction
        };
        let purchases = crate::counted(count as u64, "purchase", "purchases");
        verdict(stage, format!("{purchases} {window} {thresholds}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native;
    use crate::testing::TestInput;

    fn rules() -> Lifecycle {
        Lifecycle {
            dormant_after_days: 14,
            churned_after_days: 45,
            growth_min_purchases: 3,
            maturity_min_purchases: 6,
            window_days: Some(90),
            rule_prefix: "t".into(),
        }
    }

    const NOW: &str = "2026-03-07T10:00:00Z";

    fn stage_of(input: &TestInput) -> (Stage, String) {
        let v = rules().classify(&input.profile(), input.now());
        (v.stage, v.reason)
    }

    #[test]
    fn no_purchase_is_introduction() {
        let input = TestInput::at(NOW).event(kinds::VIEW, "2026-03-01T00:00:00Z");
        assert_eq!(stage_of(&input), (Stage::Introduction, "no purchase yet".into()));
    }

    #[test]
    fn boundaries_are_exclusive() {
        // Exactly 14 days is still active; 15 is dormant; 46 is churned.
        let at = |days: i64| {
            let t = Timestamp::parse_rfc3339(NOW).unwrap().plus_days(-days);
            TestInput::at(NOW).purchase_at(t, 100)
        };
        assert_eq!(stage_of(&at(14)).0, Stage::Introduction);
        assert_eq!(stage_of(&at(15)).0, Stage::Dormancy);
        assert_eq!(stage_of(&at(45)).0, Stage::Dormancy);
        assert_eq!(
            stage_of(&at(46)),
            (Stage::Churned, "last purchase 46 days ago (churned after 45)".into())
        );
    }

    #[test]
    fn a_purchase_after_a_long_gap_is_reactivation() {
        let input = TestInput::at(NOW)
            .purchase("2025-12-01T00:00:00Z", 100)
            .purchase("2026-03-05T00:00:00Z", 100);
        assert_eq!(
            stage_of(&input),
            (
                Stage::Reactivated,
                "bought 2 days ago after a 94-day gap (dormant after 14)".into()
            )
        );
    }

    #[test]
    fn a_prior_dormant_stage_is_reactivation_too() {
        let input = TestInput::at(NOW)
            .purchase("2026-03-01T00:00:00Z", 100)
            .purchase("2026-03-05T00:00:00Z", 100)
            .prior_stage(Stage::Dormancy);
        assert_eq!(stage_of(&input).0, Stage::Reactivated);
    }

    #[test]
    fn counts_decide_growth_and_maturity() {
        let mut input = TestInput::at(NOW);
        for day in 1..=6 {
            input = input.purchase(&format!("2026-03-0{day}T00:00:00Z"), 100);
        }
        assert_eq!(
            stage_of(&input),
            (
                Stage::Maturity,
                "6 purchases in the last 90 days (growth from 3, maturity from 6)".into()
            )
        );
    }

    #[test]
    fn config_must_be_consistent() {
        native::set_config([
            ("s.dormant_after_days", "30"),
            ("s.churned_after_days", "20"),
            ("s.growth_min_purchases", "2"),
            ("s.maturity_min_purchases", "5"),
        ]);
        let err = Lifecycle::from_config(&Config::new(), "s", "r").unwrap_err();
        assert_eq!(err.code, "config_invalid");
        assert_eq!(
            err.message,
            "config key `s.churned_after_days` is \"20\", expected more than 30 (`s.dormant_after_days`)"
        );
    }

    #[test]
    fn config_reads_every_threshold() {
        native::set_config([
            ("s.dormant_after_days", "30"),
            ("s.churned_after_days", "90"),
            ("s.growth_min_purchases", "2"),
            ("s.maturity_min_purchases", "5"),
            ("s.window_days", "0"),
        ]);
        let rules = Lifecycle::from_config(&Config::new(), "s", "r").unwrap();
        assert_eq!(rules.window_days, None);
        assert_eq!((rules.dormant_after_days, rules.maturity_min_purchases), (30, 5));
    }
}
