//! Percentiles and rates.

use std::time::Duration;

/// Durations of repeated operations.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Records one.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds another set.
    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// Records per second over `elapsed`.
    pub fn rate(&self, elapsed: Duration) -> f64 {
        self.0.len() as f64 / elapsed.as_secs_f64()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0–100) in microseconds.
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e6
    }

    /// The mean in microseconds.
    pub fn mean_us(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.iter().map(Duration::as_secs_f64).sum::<f64>() / self.0.len() as f64 * 1e6
    }
}

/// All the samples of several sets.
impl FromIterator<Samples> for Samples {
    fn from_iter<I: IntoIterator<Item = Samples>>(sets: I) -> Self {
        Samples(sets.into_iter().flat_map(|s| s.0).collect())
    }
}

/// Durations gathered one by one.
impl FromIterator<Duration> for Samples {
    fn from_iter<I: IntoIterator<Item = Duration>>(durations: I) -> Self {
        Samples(durations.into_iter().collect())
    }
}

/// The mean of some values (NaN for none).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}
