//! `/diagnostics`: the loop's health as a `diagnostic_msgs/DiagnosticArray`, one status
//! named `augur: control loop`, with the counters as key/values (the names are listed
//! in docs/safety.md).

use augur_runtime::control::{Diagnostics, Fault};

use super::params::NodeParams;
use crate::msg::{DiagnosticArray, DiagnosticStatus, Header, KeyValue, Time};

/// The status name tools filter on.
pub const STATUS_NAME: &str = "augur: control loop";

/// Builds the array from a diagnostics snapshot and the measured loop rate.
pub fn array(d: &Diagnostics, rate_hz: f64, params: &NodeParams, stamp: Time) -> DiagnosticArray {
    let ms = |t: std::time::Duration| format!("{:.3}", t.as_secs_f64() * 1e3);
    let mut values = vec![
        kv("loop_rate_hz", format!("{rate_hz:.2}")),
        kv("period_ms", ms(params.runner.period)),
        kv("cycles", d.cycles.to_string()),
        kv("safe_cycles", d.safe_cycles.to_string()),
        kv("deadline_misses", d.deadline_misses.to_string()),
        kv("clock_jumps", d.clock_jumps.to_string()),
        kv(
            "consecutive_deadline_misses",
            d.consecutive_misses.to_string(),
        ),
        kv("cycle_time_last_ms", ms(d.last_cycle_time)),
        kv("cycle_time_max_ms", ms(d.max_cycle_time)),
        kv(
            "cycle_time_mean_ms",
            ms(d.total_cycle_time / (d.cycles.max(1) as u32)),
        ),
        kv("watchdog", d.faults.to_string()),
        kv("messages_accepted", d.ingest.accepted.to_string()),
        kv("messages_malformed", d.ingest.malformed.to_string()),
        kv("messages_overwritten", d.ingest.overwritten.to_string()),
        kv(
            "observation_age_ms",
            d.observation_age.map(ms).unwrap_or_else(|| "none".into()),
        ),
        kv(
            "prediction_error",
            d.prediction_error
                .map(|e| format!("{e:.5}"))
                .unwrap_or_else(|| "none".into()),
        ),
        kv(
            "prediction_error_ema",
            d.prediction_error_ema
                .map(|e| format!("{e:.5}"))
                .unwrap_or_else(|| "none".into()),
        ),
        kv("plan_time_ms", ms(d.plan.elapsed)),
        kv("plan_model_calls", d.plan.model_calls.to_string()),
        kv("plan_transitions", d.plan.model_transitions.to_string()),
        kv("plan_depth", d.plan.depth_reached.to_string()),
        kv("plan_best_value", format!("{:.4}", d.plan.best_value)),
    ];
    for (key, value) in params.realtime.diagnostics() {
        values.push(kv(key, value));
    }
    values.push(kv("major_page_faults", major_page_faults()));
    values.push(kv("resident_bytes", resident_bytes()));
    for (i, fault) in Fault::ALL.into_iter().enumerate() {
        values.push(kv(
            &format!("faults.{}", fault.name()),
            d.raised[i].to_string(),
        ));
    }
    let (level, message) = if !d.faults.is_empty() {
        (
            DiagnosticStatus::ERROR,
            format!("safe action commanded: {}", d.faults),
        )
    } else if d.consecutive_misses > 0 {
        (DiagnosticStatus::WARN, "missing deadlines".to_string())
    } else {
        (DiagnosticStatus::OK, "planning".to_string())
    };
    DiagnosticArray {
        header: Header {
            stamp,
            frame_id: String::new(),
        },
        status: vec![DiagnosticStatus {
            level,
            name: STATUS_NAME.into(),
            message,
            hardware_id: "augur".into(),
            values,
        }],
    }
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

/// The process's major page faults so far (page-ins from disk: what
/// `realtime.lock_memory` prevents once the model is loaded).
fn major_page_faults() -> String {
    // SAFETY: getrusage fills the struct it is given; all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return "unknown".into();
    }
    usage.ru_majflt.to_string()
}

/// The process's resident memory, from `/proc/self/statm` (Linux).
fn resident_bytes() -> String {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok());
    // SAFETY: sysconf takes a name only.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    match (pages, u64::try_from(page)) {
        (Some(pages), Ok(page)) if page > 0 => (pages * page).to_string(),
        _ => "unknown".into(),
    }
}
