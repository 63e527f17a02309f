//! Judging a bench run: what the runner observed ([`RunLog`], transport-free) against
//! the scenario's acceptance rules and thresholds, giving a [`Verdict`] of named rules.
//!
//! Times are seconds from the start of the run on the wall clock the node's recording
//! also uses, so the plant's view (commands received) and the node's (recorded cycles)
//! line up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::{Fault, FaultKind, Scenario};

/// One injected fault as it actually happened.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct InjectedWindow {
    /// Index into the scenario's `faults`.
    pub fault: usize,
    pub kind: String,
    /// Start and end as executed, s.
    pub start: f64,
    pub end: f64,
    /// The last unaltered sensor message published before the window, s.
    pub last_good_before: Option<f64>,
    /// The first altered (non-finite) message published in the window, s.
    pub first_bad: Option<f64>,
    /// The first unaltered sensor message published after the window, s.
    pub first_good_after: Option<f64>,
    /// Messages the node drops as malformed (wrong length, unknown joint).
    pub malformed_sent: u64,
    /// Extra messages published (flood).
    pub extra_sent: u64,
    /// Whether the node (this run's last process) was running during the window.
    pub before_last_start: bool,
}

/// A command as the plant received it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommandSample {
    pub t: f64,
    pub values: Vec<f64>,
}

/// One recorded control cycle (from the node's `/augur/cycle` and PlanStats).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CycleSample {
    /// Cycle start, s.
    pub t: f64,
    pub planned: bool,
    /// `faults` bits (bit i is `Fault::ALL[i]`).
    pub faults: u8,
    pub command: Vec<f32>,
    pub compute_ms: f64,
    pub deadline_missed: bool,
}

/// How a node process ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeExit {
    pub t: f64,
    /// Killed on purpose by the scenario.
    pub expected: bool,
    /// Exit status as text.
    pub status: String,
    /// Exited cleanly after the runner's SIGINT.
    pub clean: bool,
}

/// Everything the runner observed in one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunLog {
    pub duration: f64,
    pub period: f64,
    pub sensor_timeout: f64,
    pub safe_action: Vec<f64>,
    pub action_low: Vec<f64>,
    pub action_high: Vec<f64>,
    pub windows: Vec<InjectedWindow>,
    pub commands: Vec<CommandSample>,
    pub cycles: Vec<CycleSample>,
    /// The last `/diagnostics` key/values of the last node process.
    pub diagnostics: BTreeMap<String, String>,
    pub exits: Vec<NodeExit>,
    /// Resident memory of the node, `(t, KiB)`.
    pub rss_kib: Vec<(f64, u64)>,
    /// CPU time the hypervisor took from the machine's virtual CPUs, `(t, s since
    /// boot)` (Linux `/proc/stat`; empty elsewhere). On a VM it explains stalls no
    /// scenario injected.
    #[serde(default)]
    pub cpu_steal: Vec<(f64, f64)>,
    /// Returns of the complete episodes (learned simulator: the task's reward on
    /// the simulated state, as the physics plant computes it).
    pub returns: Vec<f64>,
    /// Learned simulator: the same episodes' returns by the simulator's own reward head.
    #[serde(default)]
    pub model_returns: Vec<f64>,
    /// Learned simulator with `compare_physics`: the returns of the same scenario (same
    /// seeds, parameters and faults) on the physics pendulum.
    #[serde(default)]
    pub physics_returns: Vec<f64>,
    /// Baseline mean returns by planner name (the model's `evaluation.jsonl`).
    pub baselines: BTreeMap<String, f64>,
    /// Starts of node processes after the first (restarts), s.
    pub restarts: Vec<f64>,
    /// The plant's state to plot, `(t, value)` (pendulum: wrapped angle, rad).
    pub trajectory: Vec<(f64, f64)>,
}

/// One judged rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule: String,
    pub passed: bool,
    /// What was measured against what, in words.
    pub detail: String,
}

/// The judgement of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub scenario: String,
    pub passed: bool,
    pub rules: Vec<RuleResult>,
}

impl Verdict {
    /// The rules that failed.
    pub fn failures(&self) -> impl Iterator<Item = &RuleResult> {
        self.rules.iter().filter(|r| !r.passed)
    }
}

/// Default tolerance over one period for the safe command: two transport hops and
/// the safe cycle's compute.
const LATENCY_TOLERANCE: f64 = 0.01;
/// Default time for planned control to come back after a fault clears.
const RESUME_TIME: f64 = 1.0;
/// Default time from kill to the restarted node's first command.
const RESTART_TIME: f64 = 60.0;
/// A deadline miss is put down to the hypervisor when at least this much CPU time was
/// stolen from the machine ...
const STEAL_EXPLAINS: f64 = 0.010;
/// ... within this long of the miss, s (the samples are 0.5 s apart).
const STEAL_WINDOW: f64 = 1.0;

fn rule(rules: &mut Vec<RuleResult>, name: String, passed: bool, detail: String) {
    rules.push(RuleResult {
        rule: name,
        passed,
        detail,
    });
}

impl RunLog {
    fn is_safe(&self, c: &CommandSample) -> bool {
        c.values.len() == self.safe_action.len()
            && c.values.iter().zip(&self.safe_action).all(|(a, b)| a == b)
    }

    /// CPU time stolen by the hypervisor between the samples around `t ± STEAL_WINDOW`.
    fn steal_near(&self, t: f64) -> f64 {
        let before = self
            .cpu_steal
            .iter()
            .rev()
            .find(|(at, _)| *at <= t - STEAL_WINDOW)
            .or(self.cpu_steal.first());
        let after = self
            .cpu_steal
            .iter()
            .find(|(at, _)| *at >= t + STEAL_WINDOW)
            .or(self.cpu_steal.last());
        match (before, after) {
            (Some((_, a)), Some((_, b))) => (b - a).max(0.0),
            _ => 0.0,
        }
    }

    /// Windows that explain deadline misses (and, for a kill, missing commands).
    fn explains_misses(&self, scenario: &Scenario, t: f64) -> bool {
        self.windows.iter().any(|w| {
            matches!(
                scenario.faults[w.fault].kind,
                FaultKind::CpuStarvation { .. }
                    | FaultKind::Flood { .. }
                    | FaultKind::KillRestart {}
            ) && t >= w.start
                && t <= w.end + 1.0
        })
    }
}

/// Judges `log` against `scenario`.
pub fn judge(scenario: &Scenario, log: &RunLog) -> Verdict {
    let mut rules = Vec::new();
    let th = &scenario.thresholds;

    // The node never exits or panics unless the scenario kills it.
    let unexpected: Vec<&NodeExit> = log
        .exits
        .iter()
        .filter(|e| !e.expected && !e.clean)
        .collect();
    rule(
        &mut rules,
        "node_alive".into(),
        unexpected.is_empty() && !log.exits.is_empty(),
        if unexpected.is_empty() {
            format!(
                "{} node process(es); every one ran until stopped or killed on purpose",
                log.exits.len()
            )
        } else {
            format!(
                "unexpected exit(s): {}",
                unexpected
                    .iter()
                    .map(|e| format!("at {:.2} s: {}", e.t, e.status))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    );

    // Every command finite, of the action's length and within its bounds.
    let bad = log.commands.iter().find(|c| {
        c.values.len() != log.action_low.len()
            || c.values
                .iter()
                .zip(log.action_low.iter().zip(&log.action_high))
                .any(|(v, (lo, hi))| !(v.is_finite() && v >= lo && v <= hi))
    });
    rule(
        &mut rules,
        "commands_within_bounds".into(),
        bad.is_none() && !log.commands.is_empty(),
        match bad {
            None => format!(
                "{} commands, all finite and within bounds",
                log.commands.len()
            ),
            Some(c) => format!("command {:?} at {:.3} s", c.values, c.t),
        },
    );

    let max_safe = th.max_safe_latency.unwrap_or(log.period);
    let tolerance = th.latency_tolerance.unwrap_or(LATENCY_TOLERANCE);
    let resume = th.max_resume_time.unwrap_or(RESUME_TIME);
    for w in &log.windows {
        let fault: &Fault = &scenario.faults[w.fault];
        let label = format!("{}[{}]", fault.kind.name(), w.fault);
        // The moment the node must switch to the safe action.
        let must_be_safe_from = if fault.kind.silences_sensor() {
            (w.end - w.start > log.sensor_timeout + log.period)
                .then(|| w.last_good_before.map(|t| t + log.sensor_timeout))
                .flatten()
        } else if fault.kind.non_finite_value().is_some() {
            w.first_bad
        } else {
            None
        };
        if let Some(from) = must_be_safe_from {
            let first_safe = log.commands.iter().find(|c| c.t >= from && log.is_safe(c));
            let latency = first_safe.map(|c| c.t - from);
            let held = first_safe.is_some_and(|first| {
                log.commands
                    .iter()
                    .filter(|c| c.t >= first.t && c.t <= w.end)
                    .all(|c| log.is_safe(c))
            });
            rule(
                &mut rules,
                format!("safe_command_in_time.{label}"),
                latency.is_some_and(|l| l <= max_safe + tolerance) && held,
                match latency {
                    Some(l) => format!(
                        "safe command {:.1} ms after {} (limit {:.1} ms + {:.1} ms tolerance){}",
                        l * 1e3,
                        if fault.kind.silences_sensor() {
                            "sensor_timeout ran out"
                        } else {
                            "the first bad message"
                        },
                        max_safe * 1e3,
                        tolerance * 1e3,
                        if held {
                            ", held until the fault cleared"
                        } else {
                            ", NOT held until the fault cleared"
                        }
                    ),
                    None => "no safe command after the fault".into(),
                },
            );
        } else if matches!(
            fault.kind,
            FaultKind::Delay { .. }
                | FaultKind::OutOfRange { .. }
                | FaultKind::ClockJump { .. }
                | FaultKind::Resolution { .. }
        ) || (fault.kind.silences_sensor() && w.end - w.start < log.sensor_timeout)
        {
            // The node has usable (if late or absurd) data: it must keep planning. The
            // node's own cycle records say whether a cycle planned; a planned command
            // can equal the safe action exactly (a search warm-started at 0 N·m that
            // keeps it), so commands are only the fallback when no cycle was recorded.
            let (unplanned, what) = if log.cycles.is_empty() {
                let safe = log
                    .commands
                    .iter()
                    .filter(|c| c.t >= w.start && c.t <= w.end)
                    .filter(|c| log.is_safe(c))
                    .count();
                (safe, "safe commands")
            } else {
                let skipped = log
                    .cycles
                    .iter()
                    .filter(|c| c.t >= w.start && c.t <= w.end && !c.planned)
                    .count();
                (skipped, "cycles without a plan")
            };
            rule(
                &mut rules,
                format!("keeps_planning.{label}"),
                unplanned == 0,
                format!("{unplanned} {what} inside the window"),
            );
        }
        // Planned control comes back after the fault clears.
        let cleared = match fault.kind {
            FaultKind::KillRestart {} => log.restarts.iter().copied().find(|&t| t >= w.start),
            _ => w.first_good_after.or(Some(w.end)),
        };
        let limit = match fault.kind {
            FaultKind::KillRestart {} => th.max_restart_time.unwrap_or(RESTART_TIME),
            _ => resume,
        };
        let from = match fault.kind {
            FaultKind::KillRestart {} => Some(w.start),
            _ => cleared,
        };
        let resumed = from.and_then(|from| {
            log.commands
                .iter()
                .find(|c| c.t >= from && !log.is_safe(c) && cleared.is_some_and(|t| c.t >= t))
                .map(|c| c.t - from)
        });
        rule(
            &mut rules,
            format!("control_resumes.{label}"),
            resumed.is_some_and(|r| r <= limit),
            match resumed {
                Some(r) => format!(
                    "planned command {:.3} s after {} (limit {limit} s)",
                    r,
                    if matches!(fault.kind, FaultKind::KillRestart {}) {
                        "the kill"
                    } else {
                        "the fault cleared"
                    }
                ),
                None => "no planned command after the fault".into(),
            },
        );
    }

    // `/diagnostics` counts match the faults injected into the last node process.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let last = log.windows.iter().filter(|w| !w.before_last_start);
    let mut malformed = 0;
    let mut stale = 0;
    let mut non_finite = 0;
    // The node counts a clock that goes backwards, or forward by more than two
    // periods; a forward jump under three periods may or may not count.
    let mut clock_jumps = Some(0);
    for w in last {
        let kind = &scenario.faults[w.fault].kind;
        malformed += w.malformed_sent;
        if kind.silences_sensor() && w.end - w.start > log.sensor_timeout + log.period {
            stale += 1;
        }
        if kind.non_finite_value().is_some() {
            non_finite += 1;
        }
        if let FaultKind::ClockJump { jump } = kind {
            clock_jumps = match clock_jumps {
                Some(n) if *jump < 0.0 || *jump > 3.0 * log.period => Some(n + 1),
                _ => None,
            };
        }
    }
    if !log.windows.is_empty() {
        expected.insert("messages_malformed".into(), malformed);
        expected.insert("faults.stale_observation".into(), stale);
        expected.insert("faults.non_finite_observation".into(), non_finite);
        if let (true, Some(jumps)) = (scenario.sim_time, clock_jumps) {
            expected.insert("clock_jumps".into(), jumps);
        }
    }
    expected.extend(th.diagnostics.iter().map(|(k, v)| (k.clone(), *v)));
    for (key, want) in expected {
        let got = log.diagnostics.get(&key);
        rule(
            &mut rules,
            format!("diagnostics.{key}"),
            got.and_then(|g| g.parse::<u64>().ok()) == Some(want),
            format!(
                "/diagnostics {key} = {}, expected {want}",
                got.map_or("missing", String::as_str)
            ),
        );
    }

    // Returns.
    let mean = (!log.returns.is_empty())
        .then(|| log.returns.iter().sum::<f64>() / log.returns.len() as f64);
    if let Some(min) = th.min_mean_return {
        rule(
            &mut rules,
            "min_mean_return".into(),
            mean.is_some_and(|m| m >= min),
            match mean {
                Some(m) => format!(
                    "mean return {m:.2} over {} episodes, at least {min}",
                    log.returns.len()
                ),
                None => "no complete episode".into(),
            },
        );
    }
    for baseline in &th.beat_baselines {
        let base = log.baselines.get(baseline);
        rule(
            &mut rules,
            format!("beats_baseline.{baseline}"),
            matches!((mean, base), (Some(m), Some(b)) if m > *b),
            match (mean, base) {
                (Some(m), Some(b)) => format!("mean return {m:.2} vs {baseline} {b:.2}"),
                (_, None) => format!("no `{baseline}` baseline in evaluation.jsonl"),
                (None, _) => "no complete episode".into(),
            },
        );
    }

    // Memory.
    if let Some(limit) = th.max_rss_growth_kib {
        let warmup = scenario.warmup.unwrap_or(0.1 * log.duration);
        let start = log.rss_kib.iter().find(|(t, _)| *t >= warmup);
        let end = log.rss_kib.last();
        let growth = match (start, end) {
            (Some(s), Some(e)) if e.0 > s.0 => Some(e.1 as i64 - s.1 as i64),
            _ => None,
        };
        rule(
            &mut rules,
            "max_rss_growth".into(),
            growth.is_some_and(|g| g <= limit as i64),
            match (growth, start, end) {
                (Some(g), Some(s), Some(e)) => format!(
                    "RSS {} KiB at {:.0} s -> {} KiB at {:.0} s: {g:+} KiB (limit {limit} KiB)",
                    s.1, s.0, e.1, e.0
                ),
                _ => "too few memory samples after warm-up".into(),
            },
        );
    }

    // Deadline misses neither the scenario nor the machine's hypervisor explains.
    if let Some(limit) = th.max_unexplained_deadline_misses {
        let outside: Vec<f64> = log
            .cycles
            .iter()
            .filter(|c| c.deadline_missed && !log.explains_misses(scenario, c.t))
            .map(|c| c.t)
            .collect();
        let (stolen, misses): (Vec<f64>, Vec<f64>) = outside
            .iter()
            .partition(|&&t| log.steal_near(t) >= STEAL_EXPLAINS);
        let total_steal = match (log.cpu_steal.first(), log.cpu_steal.last()) {
            (Some((_, a)), Some((_, b))) => b - a,
            _ => 0.0,
        };
        rule(
            &mut rules,
            "unexplained_deadline_misses".into(),
            misses.len() as u64 <= limit && !log.cycles.is_empty(),
            format!(
                "{} deadline misses outside fault windows over {} recorded cycles (limit {limit}){}; {} more within {STEAL_WINDOW} s of CPU time stolen by the hypervisor ({:.1} s stolen over the run)",
                misses.len(),
                log.cycles.len(),
                misses
                    .first()
                    .map(|t| format!(", first at {t:.2} s"))
                    .unwrap_or_default(),
                stolen.len(),
                total_steal
            ),
        );
    }

    Verdict {
        scenario: scenario.name.clone(),
        passed: rules.iter().all(|r| r.passed),
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            r#"
name = "t"
description = "d"
plant = "pendulum"
model = "models/pendulum"
duration = 10.0
[[faults]]
kind = "sensor_dropout"
start = 3.0
duration = 2.0
{extra}
"#
        );
        Scenario::parse(&text, Path::new("t.toml")).unwrap()
    }

    /// A run where the plant saw planned commands (0.5) every 50 ms except safe ones
    /// (0.0) from `safe_from` to 5.02 s.
    fn log(safe_from: f64) -> RunLog {
        let commands = (0..200)
            .map(|k| {
                let t = k as f64 * 0.05 + 0.002;
                let safe = t >= safe_from && t < 5.02;
                CommandSample {
                    t,
                    values: vec![if safe { 0.0 } else { 0.5 }],
                }
            })
            .collect();
        RunLog {
            duration: 10.0,
            period: 0.05,
            sensor_timeout: 0.25,
            safe_action: vec![0.0],
            action_low: vec![-2.0],
            action_high: vec![2.0],
            windows: vec![InjectedWindow {
                fault: 0,
                kind: "sensor_dropout".into(),
                start: 3.0,
                end: 5.0,
                last_good_before: Some(2.95),
                first_good_after: Some(5.0),
                ..Default::default()
            }],
            commands,
            diagnostics: [
                ("messages_malformed", "0"),
                ("faults.stale_observation", "1"),
                ("faults.non_finite_observation", "0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
            exits: vec![NodeExit {
                t: 10.0,
                expected: false,
                status: "exit status: 0".into(),
                clean: true,
            }],
            returns: vec![-150.0],
            ..Default::default()
        }
    }

    #[test]
    fn a_timely_safe_command_and_matching_counts_pass() {
        let verdict = judge(&scenario(""), &log(3.2));
        assert!(verdict.passed, "{:#?}", verdict.rules);
        let names: Vec<&str> = verdict.rules.iter().map(|r| r.rule.as_str()).collect();
        assert!(names.contains(&"safe_command_in_time.sensor_dropout[0]"));
        assert!(names.contains(&"control_resumes.sensor_dropout[0]"));
        assert!(names.contains(&"diagnostics.faults.stale_observation"));
    }

    #[test]
    fn a_late_safe_command_fails_the_latency_rule() {
        // Stale from 3.2 s; the safe command first reaches the plant at 3.302 s.
        let verdict = judge(&scenario(""), &log(3.3));
        let failed: Vec<&str> = verdict.failures().map(|r| r.rule.as_str()).collect();
        assert_eq!(failed, ["safe_command_in_time.sensor_dropout[0]"]);
    }

    #[test]
    fn wrong_thresholds_and_counts_fail() {
        let s = scenario("[thresholds]\nmin_mean_return = -100.0\ndiagnostics = { cycles = 5 }");
        let mut run = log(3.2);
        run.diagnostics
            .insert("faults.stale_observation".into(), "2".into());
        let verdict = judge(&s, &run);
        let failed: Vec<&str> = verdict.failures().map(|r| r.rule.as_str()).collect();
        assert_eq!(
            failed,
            [
                "diagnostics.cycles",
                "diagnostics.faults.stale_observation",
                "min_mean_return"
            ]
        );
        assert!(!verdict.passed);
    }

    #[test]
    fn a_deadline_miss_is_put_down_to_cpu_steal_only_when_steal_was_seen_near_it() {
        let s = scenario("[thresholds]\nmax_unexplained_deadline_misses = 0");
        let mut run = log(3.2);
        let cycle = |t: f64, missed: bool| CycleSample {
            t,
            planned: true,
            faults: 0,
            command: vec![0.5],
            compute_ms: if missed { 60.0 } else { 5.0 },
            deadline_missed: missed,
        };
        run.cycles = (0..200).map(|k| cycle(k as f64 * 0.05, k == 160)).collect();
        // 40 ms stolen between 7.5 s and 8.0 s; the miss is at 8.0 s.
        run.cpu_steal = (0..20)
            .map(|k| (k as f64 * 0.5, if k >= 16 { 100.04 } else { 100.0 }))
            .collect();
        let verdict = judge(&s, &run);
        let rule = verdict
            .rules
            .iter()
            .find(|r| r.rule == "unexplained_deadline_misses")
            .unwrap();
        assert!(rule.passed, "{}", rule.detail);
        assert!(rule.detail.contains("1 more within"), "{}", rule.detail);
        // The same miss without steal around it is unexplained.
        run.cpu_steal = (0..20).map(|k| (k as f64 * 0.5, 100.0)).collect();
        let verdict = judge(&s, &run);
        let failed: Vec<&str> = verdict.failures().map(|r| r.rule.as_str()).collect();
        assert_eq!(failed, ["unexplained_deadline_misses"]);
    }

    #[test]
    fn an_unexpected_exit_fails_node_alive() {
        let mut run = log(3.2);
        run.exits[0].clean = false;
        run.exits[0].status = "exit status: 101".into();
        let verdict = judge(&scenario(""), &run);
        let failed: Vec<&str> = verdict.failures().map(|r| r.rule.as_str()).collect();
        assert_eq!(failed, ["node_alive"]);
    }
}
