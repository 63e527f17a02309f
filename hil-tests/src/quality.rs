//! Control quality of pendulum episodes, as an engineer judges commands to an
//! actuator: the return, how much the torque jumps from one period to the next while
//! the pendulum is balanced, and how far from upright it is held. Plus the statistics
//! to compare settings on the same starts: bootstrap intervals of a mean and of a
//! paired difference.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::closed_loop::Episode;
use crate::plants::pendulum::angle_normalize;

/// |θ| below which the pendulum counts as balanced, rad (the definition).
pub const BALANCED: f64 = 0.2;

/// Final steps over which the steady-state error is measured.
pub const STEADY_STEPS: usize = 50;

/// Control quality of one episode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeQuality {
    /// Episode label (its seed).
    pub seed: u64,
    /// Sum of rewards.
    pub total_return: f64,
    /// Steps with |θ| < [`BALANCED`] before the step.
    pub balanced_steps: usize,
    /// Σ |u_t - u_{t-1}| over steps where the pendulum was balanced before both
    /// commands, N·m, and how many such steps there were.
    pub balanced_du_sum: f64,
    /// Steps counted in `balanced_du_sum`.
    pub balanced_du_steps: usize,
    /// Mean |θ| over the last [`STEADY_STEPS`] steps if it was balanced through all of
    /// them (`None` otherwise), rad.
    pub steady_state_error: Option<f64>,
    /// Mean θ (signed: a steady tilt) over the same steps, rad.
    pub steady_state_tilt: Option<f64>,
    /// Mean torque over the same steps, N·m.
    pub steady_state_torque: Option<f64>,
}

impl EpisodeQuality {
    /// Measures `episode`. O(steps).
    pub fn of(episode: &Episode) -> Self {
        let steps = &episode.steps;
        let theta: Vec<f64> = steps
            .iter()
            .map(|s| angle_normalize(s.state.theta))
            .collect();
        let balanced = |t: usize| theta[t].abs() < BALANCED;
        let balanced_steps = (0..steps.len()).filter(|&t| balanced(t)).count();
        let (mut du_sum, mut du_steps) = (0.0, 0);
        for t in 1..steps.len() {
            if balanced(t) && balanced(t - 1) {
                du_sum += f64::from(steps[t].action - steps[t - 1].action).abs();
                du_steps += 1;
            }
        }
        let tail = steps.len().saturating_sub(STEADY_STEPS);
        let held = steps.len() >= STEADY_STEPS && (tail..steps.len()).all(balanced);
        let mean = |f: &dyn Fn(usize) -> f64| {
            held.then(|| (tail..steps.len()).map(f).sum::<f64>() / STEADY_STEPS as f64)
        };
        Self {
            seed: episode.seed,
            total_return: episode.total_return,
            balanced_steps,
            balanced_du_sum: du_sum,
            balanced_du_steps: du_steps,
            steady_state_error: mean(&|t| theta[t].abs()),
            steady_state_tilt: mean(&|t| theta[t]),
            steady_state_torque: mean(&|t| f64::from(steps[t].action)),
        }
    }

    /// Mean |Δu| per step while balanced, N·m (`None` if never balanced twice in a row).
    pub fn mean_balanced_du(&self) -> Option<f64> {
        (self.balanced_du_steps > 0).then(|| self.balanced_du_sum / self.balanced_du_steps as f64)
    }
}

/// The control quality of a set of episodes: chatter pooled over every balanced step
/// pair, and the steady state averaged over the episodes held to the end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregate {
    /// Σ|Δu| / steps over every balanced step pair of every episode, N·m.
    pub mean_balanced_du: Option<f64>,
    /// Episodes held upright through their last [`STEADY_STEPS`] steps.
    pub held_episodes: usize,
    /// Mean over the held episodes of their steady-state error, rad.
    pub steady_state_error: Option<f64>,
    /// Mean over the held episodes of their tilt, rad.
    pub steady_state_tilt: Option<f64>,
    /// Mean over the held episodes of their torque, N·m.
    pub steady_state_torque: Option<f64>,
}

impl Aggregate {
    /// Pools `episodes`. O(episodes).
    pub fn of(episodes: &[EpisodeQuality]) -> Self {
        let (du_sum, du_steps) = episodes.iter().fold((0.0, 0), |(s, n), e| {
            (s + e.balanced_du_sum, n + e.balanced_du_steps)
        });
        let held: Vec<&EpisodeQuality> = episodes
            .iter()
            .filter(|e| e.steady_state_error.is_some())
            .collect();
        let mean_of = |f: &dyn Fn(&EpisodeQuality) -> Option<f64>| {
            (!held.is_empty())
                .then(|| held.iter().filter_map(|e| f(e)).sum::<f64>() / held.len() as f64)
        };
        Self {
            mean_balanced_du: (du_steps > 0).then(|| du_sum / du_steps as f64),
            held_episodes: held.len(),
            steady_state_error: mean_of(&|e| e.steady_state_error),
            steady_state_tilt: mean_of(&|e| e.steady_state_tilt),
            steady_state_torque: mean_of(&|e| e.steady_state_torque),
        }
    }
}

/// A mean with its 95 % bootstrap (percentile) interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// The sample mean.
    pub mean: f64,
    /// 2.5 % quantile of the bootstrap means.
    pub low: f64,
    /// 97.5 % quantile of the bootstrap means.
    pub high: f64,
}

/// Bootstrap resamples behind every [`Interval`].
pub const RESAMPLES: usize = 10_000;

/// The mean of `values` with a 95 % percentile-bootstrap interval from [`RESAMPLES`]
/// resamples drawn from a stream seeded with `seed` (deterministic).
/// `None` for no values. O(RESAMPLES · n).
pub fn bootstrap_mean(values: &[f64], seed: u64) -> Option<Interval> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_unstable_by(f64::total_cmp);
    let at = |q: f64| means[((RESAMPLES - 1) as f64 * q).round() as usize];
    Some(Interval {
        mean,
        low: at(0.025),
        high: at(0.975),
    })
}

/// The mean paired difference `b[i] - a[i]` with its bootstrap interval (the same
/// starts under two settings). `None` unless both have the same, non-zero length.
pub fn paired_difference(a: &[f64], b: &[f64], seed: u64) -> Option<Interval> {
    if a.len() != b.len() {
        return None;
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    bootstrap_mean(&differences, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closed_loop::StepRecord;
    use crate::plants::pendulum::PendulumState;
    use std::time::Duration;

    fn episode(thetas: &[f64], actions: &[f32]) -> Episode {
        let steps = thetas
            .iter()
            .zip(actions)
            .map(|(&theta, &action)| StepRecord {
                state: PendulumState {
                    theta,
                    theta_dot: 0.0,
                },
                action,
                reward: -theta * theta,
                latency: Duration::ZERO,
                predicted_reward: None,
                transitions: None,
                predicted_theta: None,
            })
            .collect::<Vec<_>>();
        Episode {
            seed: 7,
            total_return: steps.iter().map(|s| s.reward).sum(),
            steps,
        }
    }

    #[test]
    fn chatter_counts_only_steps_balanced_before_both_commands() {
        // Steps 0-1 hanging (θ = π): their jumps do not count. From step 2 on, balanced
        // and alternating ±0.5 N·m: every |Δu| counted is 1.0, except the first
        // (2.0 - 0.5 between steps 1 and 2 spans the unbalanced step 1).
        let mut thetas = vec![std::f64::consts::PI, 3.0];
        let mut actions = vec![2.0, -2.0];
        for t in 0..60 {
            thetas.push(0.05);
            actions.push(if t % 2 == 0 { 0.5 } else { -0.5 });
        }
        let q = EpisodeQuality::of(&episode(&thetas, &actions));
        assert_eq!(q.balanced_steps, 60);
        assert_eq!(q.balanced_du_steps, 59);
        assert_eq!(q.mean_balanced_du(), Some(1.0));
        assert!((q.steady_state_error.unwrap() - 0.05).abs() < 1e-12);
        assert!((q.steady_state_tilt.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(q.steady_state_torque, Some(0.0));
        assert_eq!(q.seed, 7);
    }

    #[test]
    fn no_steady_state_unless_balanced_through_the_last_steps() {
        let mut thetas = vec![0.0; 100];
        thetas[90] = 0.3;
        let q = EpisodeQuality::of(&episode(&thetas, &[0.0; 100]));
        assert_eq!(q.steady_state_error, None);
        assert_eq!(q.balanced_steps, 99);
        // Angles wrap: 2π is upright.
        let q = EpisodeQuality::of(&episode(&[2.0 * std::f64::consts::PI; 60], &[0.0; 60]));
        assert_eq!(q.balanced_steps, 60);
        assert!(q.steady_state_error.unwrap() < 1e-12);
        assert_eq!(q.mean_balanced_du(), Some(0.0));
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_shrinks_with_more_data() {
        // Values 0..9 repeated: mean 4.5, std 2.87; the 95 % interval of the mean of
        // n values is about ±1.96 · 2.87 / sqrt(n).
        let small: Vec<f64> = (0..20).map(|i| f64::from(i % 10)).collect();
        let large: Vec<f64> = (0..2000).map(|i| f64::from(i % 10)).collect();
        let s = bootstrap_mean(&small, 1).unwrap();
        let l = bootstrap_mean(&large, 1).unwrap();
        assert_eq!(s.mean, 4.5);
        assert!(s.low < 4.5 && 4.5 < s.high, "{s:?}");
        let half = 1.96 * 2.872 / (20f64).sqrt();
        assert!(((s.high - s.low) / 2.0 - half).abs() < 0.25 * half, "{s:?}");
        assert!(l.high - l.low < 0.2 * (s.high - s.low), "{l:?}");
        // Deterministic for a seed.
        assert_eq!(bootstrap_mean(&small, 1), Some(s));
        assert_eq!(bootstrap_mean(&[], 1), None);
    }

    #[test]
    fn paired_difference_sees_a_shift_that_unpaired_spread_would_hide() {
        // Start-to-start spread of ±100, a constant improvement of 2: the paired
        // interval is exactly 2, where the unpaired means' intervals overlap widely.
        let a: Vec<f64> = (0..100)
            .map(|i| -150.0 + if i % 2 == 0 { 100.0 } else { -100.0 })
            .collect();
        let b: Vec<f64> = a.iter().map(|x| x + 2.0).collect();
        let d = paired_difference(&a, &b, 3).unwrap();
        assert_eq!((d.mean, d.low, d.high), (2.0, 2.0, 2.0));
        let (ia, ib) = (
            bootstrap_mean(&a, 3).unwrap(),
            bootstrap_mean(&b, 3).unwrap(),
        );
        assert!(ia.high > ib.low);
        assert_eq!(paired_difference(&a, &b[1..], 3), None);
    }
}
