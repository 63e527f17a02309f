//! Action bounds, and the smoothing and rate limit applied to the commanded action.

use crate::error::ConfigError;

/// How actions are bounded and filtered (bounds come from the model manifest).
#[derive(Clone, Debug, PartialEq)]
pub struct ActionConfig {
    /// Lower bound of each action component (physical units).
    pub low: Vec<f32>,
    /// Upper bound of each action component (physical units).
    pub high: Vec<f32>,
    /// Exponential smoothing of the commanded action, in `[0, 1)`:
    /// `command = smoothing * previous + (1 - smoothing) * planned`. Default 0 (off).
    pub smoothing: f32,
    /// Largest change of each component between consecutive commands (physical units
    /// per control period). Default `None` (no rate limit).
    pub max_delta: Option<Vec<f32>>,
    /// Weight `λ >= 0` of a cost on the change of action inside the planning objective:
    /// every planned step `t` costs `λ · Σ_j ((a[t][j] - a[t-1][j]) / half_range[j])²`,
    /// discounted like the rewards, where `a[-1]` is the previous command (no cost on
    /// the first step of an episode). Unlike `smoothing` and `max_delta`, which filter
    /// the planned action afterwards, this makes the planner prefer smooth sequences
    /// among the good ones. Default 0 (off).
    pub change_cost: f32,
}

impl ActionConfig {
    /// Bounds `[low, high]` per component, no smoothing, no rate limit.
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        Self {
            low,
            high,
            smoothing: 0.0,
            max_delta: None,
            change_cost: 0.0,
        }
    }

    /// `action_dim` components bounded by `[-limit, limit]`.
    pub fn symmetric(action_dim: usize, limit: f32) -> Self {
        Self::new(vec![-limit; action_dim], vec![limit; action_dim])
    }

    /// This configuration with exponential smoothing `smoothing` in `[0, 1)`.
    pub fn with_smoothing(self, smoothing: f32) -> Self {
        Self { smoothing, ..self }
    }

    /// This configuration with a per-component rate limit.
    pub fn with_max_delta(self, max_delta: Vec<f32>) -> Self {
        Self {
            max_delta: Some(max_delta),
            ..self
        }
    }

    /// This configuration with a cost `change_cost` on the change of action.
    pub fn with_change_cost(self, change_cost: f32) -> Self {
        Self {
            change_cost,
            ..self
        }
    }

    /// Checks the configuration against the model's action width.
    pub fn validate(&self, action_dim: usize) -> Result<(), ConfigError> {
        if self.low.len() != action_dim || self.high.len() != action_dim {
            return Err(ConfigError::BoundsWidth {
                bounds: self.low.len().max(self.high.len()),
                action_dim,
            });
        }
        for (index, (&low, &high)) in self.low.iter().zip(&self.high).enumerate() {
            if !(low.is_finite() && high.is_finite() && low < high) {
                return Err(ConfigError::BadBounds { index, low, high });
            }
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(ConfigError::OutOfRange {
                field: "action.smoothing",
                value: f64::from(self.smoothing),
                expected: "0 <= smoothing < 1",
            });
        }
        if !(self.change_cost.is_finite() && self.change_cost >= 0.0) {
            return Err(ConfigError::OutOfRange {
                field: "action.change_cost",
                value: f64::from(self.change_cost),
                expected: "finite and >= 0",
            });
        }
        if let Some(max_delta) = &self.max_delta {
            if max_delta.len() != action_dim {
                return Err(ConfigError::BoundsWidth {
                    bounds: max_delta.len(),
                    action_dim,
                });
            }
            if let Some(&bad) = max_delta.iter().find(|d| !(d.is_finite() && **d > 0.0)) {
                return Err(ConfigError::OutOfRange {
                    field: "action.max_delta",
                    value: f64::from(bad),
                    expected: "finite and > 0",
                });
            }
        }
        Ok(())
    }
}

/// Bounds in the form planners use: low, high, centre and half range per component.
#[derive(Clone, Debug)]
pub(crate) struct Bounds {
    pub(crate) low: Vec<f32>,
    pub(crate) high: Vec<f32>,
    pub(crate) centre: Vec<f32>,
    pub(crate) half_range: Vec<f32>,
}

impl Bounds {
    /// From a validated configuration.
    pub(crate) fn new(config: &ActionConfig) -> Self {
        let centre = config
            .low
            .iter()
            .zip(&config.high)
            .map(|(l, h)| 0.5 * (l + h))
            .collect();
        let half_range = config
            .low
            .iter()
            .zip(&config.high)
            .map(|(l, h)| 0.5 * (h - l))
            .collect();
        Self {
            low: config.low.clone(),
            high: config.high.clone(),
            centre,
            half_range,
        }
    }

    /// Clamps one action row (or a sequence of rows) into the bounds, in place.
    /// O(len), no allocation.
    #[inline]
    pub(crate) fn clamp(&self, actions: &mut [f32]) {
        let width = self.low.len();
        for (i, a) in actions.iter_mut().enumerate() {
            let j = i % width;
            *a = a.clamp(self.low[j], self.high[j]);
        }
    }

    /// Component `j` of `value` clamped into the bounds.
    #[inline]
    pub(crate) fn clamp_one(&self, j: usize, value: f32) -> f32 {
        value.clamp(self.low[j], self.high[j])
    }
}

/// The cost on the change of action ([`ActionConfig::change_cost`]) in the form
/// planners use.
#[derive(Clone, Debug)]
pub(crate) struct ChangeCost {
    weight: f32,
    /// `1 / half_range²` per component.
    inv_half_range_sq: Vec<f32>,
}

impl ChangeCost {
    /// From a validated configuration.
    pub(crate) fn new(config: &ActionConfig, bounds: &Bounds) -> Self {
        Self {
            weight: config.change_cost,
            inv_half_range_sq: bounds.half_range.iter().map(|h| 1.0 / (h * h)).collect(),
        }
    }

    /// Whether the cost is on (`λ > 0`).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.weight > 0.0
    }

    /// `λ · Σ_j ((next[j] - previous[j]) / half_range[j])²`. O(A), no allocation.
    #[inline]
    pub(crate) fn of(&self, previous: &[f32], next: &[f32]) -> f32 {
        let mut sum = 0.0;
        for ((p, n), w) in previous.iter().zip(next).zip(&self.inv_half_range_sq) {
            let d = n - p;
            sum += d * d * w;
        }
        self.weight * sum
    }
}

/// Turns the planned first action into the commanded one: clamp, smooth, rate-limit.
#[derive(Clone, Debug)]
pub(crate) struct ActionFilter {
    bounds: Bounds,
    smoothing: f32,
    max_delta: Option<Vec<f32>>,
    previous: Vec<f32>,
    has_previous: bool,
}

impl ActionFilter {
    /// From a validated configuration.
    pub(crate) fn new(config: &ActionConfig) -> Self {
        Self {
            bounds: Bounds::new(config),
            smoothing: config.smoothing,
            max_delta: config.max_delta.clone(),
            previous: vec![0.0; config.low.len()],
            has_previous: false,
        }
    }

    /// The previous command, if there is one in this episode.
    pub(crate) fn previous(&self) -> Option<&[f32]> {
        self.has_previous.then_some(&self.previous[..])
    }

    /// Forgets the previous command (new episode).
    pub(crate) fn reset(&mut self) {
        self.has_previous = false;
    }

    /// Writes the command for `planned` into `command` and remembers it.
    ///
    /// Allocation: none. Time: O(A).
    pub(crate) fn apply(&mut self, planned: &[f32], command: &mut [f32]) {
        for j in 0..command.len() {
            let mut a = self.bounds.clamp_one(j, planned[j]);
            if self.has_previous {
                let prev = self.previous[j];
                a = self.smoothing * prev + (1.0 - self.smoothing) * a;
                if let Some(max_delta) = &self.max_delta {
                    a = a.clamp(prev - max_delta[j], prev + max_delta[j]);
                }
                a = self.bounds.clamp_one(j, a);
            }
            command[j] = a;
            self.previous[j] = a;
        }
        self.has_previous = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_bad_bounds_and_filters() {
        assert!(ActionConfig::symmetric(2, 1.0).validate(2).is_ok());
        assert!(matches!(
            ActionConfig::symmetric(2, 1.0).validate(3),
            Err(ConfigError::BoundsWidth { .. })
        ));
        assert!(matches!(
            ActionConfig::new(vec![1.0], vec![1.0]).validate(1),
            Err(ConfigError::BadBounds { index: 0, .. })
        ));
        assert!(matches!(
            ActionConfig::new(vec![f32::NAN], vec![1.0]).validate(1),
            Err(ConfigError::BadBounds { .. })
        ));
        assert!(ActionConfig::symmetric(1, 1.0)
            .with_smoothing(1.0)
            .validate(1)
            .is_err());
        assert!(ActionConfig::symmetric(1, 1.0)
            .with_max_delta(vec![0.0])
            .validate(1)
            .is_err());
        assert!(ActionConfig::symmetric(1, 1.0)
            .with_max_delta(vec![0.1, 0.1])
            .validate(1)
            .is_err());
        assert!(ActionConfig::symmetric(1, 1.0)
            .with_change_cost(-0.1)
            .validate(1)
            .is_err());
        assert!(ActionConfig::symmetric(1, 1.0)
            .with_change_cost(f32::NAN)
            .validate(1)
            .is_err());
    }

    #[test]
    fn change_cost_is_the_weighted_squared_change_in_half_ranges() {
        let config = ActionConfig::new(vec![-2.0, 0.0], vec![2.0, 1.0]).with_change_cost(0.5);
        let cost = ChangeCost::new(&config, &Bounds::new(&config));
        assert!(cost.active());
        // (1 / 2)² + (0.25 / 0.5)² = 0.5, times 0.5.
        assert_eq!(cost.of(&[0.0, 0.5], &[1.0, 0.75]), 0.25);
        assert_eq!(cost.of(&[0.3, 0.1], &[0.3, 0.1]), 0.0);
        let off = ActionConfig::symmetric(1, 1.0);
        assert!(!ChangeCost::new(&off, &Bounds::new(&off)).active());
    }

    #[test]
    fn filter_clamps_to_bounds() {
        let mut f = ActionFilter::new(&ActionConfig::new(vec![-1.0, 0.0], vec![1.0, 2.0]));
        let mut out = [0.0; 2];
        f.apply(&[5.0, -3.0], &mut out);
        assert_eq!(out, [1.0, 0.0]);
    }

    #[test]
    fn first_command_is_unfiltered_then_smoothing_blends_with_previous() {
        let mut f = ActionFilter::new(&ActionConfig::symmetric(1, 10.0).with_smoothing(0.75));
        let mut out = [0.0];
        f.apply(&[4.0], &mut out);
        assert_eq!(out, [4.0]);
        f.apply(&[8.0], &mut out);
        assert_eq!(out, [0.75 * 4.0 + 0.25 * 8.0]);
    }

    #[test]
    fn rate_limit_bounds_the_change_per_command_and_reset_forgets() {
        let mut f = ActionFilter::new(&ActionConfig::symmetric(1, 10.0).with_max_delta(vec![0.5]));
        let mut out = [0.0];
        f.apply(&[0.0], &mut out);
        f.apply(&[3.0], &mut out);
        assert_eq!(out, [0.5]);
        f.apply(&[-3.0], &mut out);
        assert_eq!(out, [0.0]);
        f.reset();
        f.apply(&[3.0], &mut out);
        assert_eq!(out, [3.0]);
    }
}
