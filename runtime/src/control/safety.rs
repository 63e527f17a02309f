//! The watchdog: which faults are active, what was commanded because of them, and how
//! often each one happened. See `docs/safety.md`.

use std::fmt;

/// A reason to command the safe action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Fault {
    /// No complete observation has arrived yet.
    NoObservation = 0,
    /// The oldest source is older than `sensor_timeout`.
    StaleObservation = 1,
    /// The observation holds NaN or infinity.
    NonFiniteObservation = 2,
    /// The encoder failed or produced NaN/Inf.
    ModelFault = 3,
    /// The planner failed (model error or NaN/Inf inside the search).
    PlannerFault = 4,
    /// `max_deadline_misses` consecutive cycles overran their period.
    DeadlineMisses = 5,
    /// The world model's one-step prediction disagrees with what arrived by more than
    /// the configured threshold.
    PredictionError = 6,
}

impl Fault {
    /// Every fault, in bit order.
    pub const ALL: [Fault; 7] = [
        Fault::NoObservation,
        Fault::StaleObservation,
        Fault::NonFiniteObservation,
        Fault::ModelFault,
        Fault::PlannerFault,
        Fault::DeadlineMisses,
        Fault::PredictionError,
    ];

    /// The name used in `/diagnostics` and logs.
    pub fn name(self) -> &'static str {
        match self {
            Fault::NoObservation => "no_observation",
            Fault::StaleObservation => "stale_observation",
            Fault::NonFiniteObservation => "non_finite_observation",
            Fault::ModelFault => "model_fault",
            Fault::PlannerFault => "planner_fault",
            Fault::DeadlineMisses => "deadline_misses",
            Fault::PredictionError => "prediction_error",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of faults (a bit mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSet(u8);

impl FaultSet {
    /// No fault.
    pub const EMPTY: FaultSet = FaultSet(0);

    /// Whether `fault` is in the set.
    pub fn contains(self, fault: Fault) -> bool {
        self.0 & fault.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The faults in the set.
    pub fn iter(self) -> impl Iterator<Item = Fault> {
        Fault::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The raw bits (bit `i` is `Fault::ALL[i]`), as recorded.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set from raw bits.
    pub fn from_bits(bits: u8) -> FaultSet {
        FaultSet(bits & ((1 << Fault::ALL.len()) - 1))
    }

    /// The set with `fault` added.
    pub fn with(self, fault: Fault) -> FaultSet {
        FaultSet(self.0 | fault.bit())
    }

    fn set(&mut self, fault: Fault, on: bool) {
        if on {
            self.0 |= fault.bit();
        } else {
            self.0 &= !fault.bit();
        }
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("ok");
        }
        for (i, fault) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(fault.name())?;
        }
        Ok(())
    }
}

/// Active faults and how many times each was raised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watchdog {
    active: FaultSet,
    raised: [u64; Fault::ALL.len()],
    safe_cycles: u64,
}

impl Watchdog {
    /// Sets `fault` active or clear; counts each raise (clear -> active transition).
    pub fn report(&mut self, fault: Fault, active: bool) {
        if active && !self.active.contains(fault) {
            self.raised[fault as usize] += 1;
        }
        self.active.set(fault, active);
    }

    /// The active faults.
    pub fn active(&self) -> FaultSet {
        self.active
    }

    /// Whether the safe action must be commanded.
    pub fn is_safe(&self) -> bool {
        !self.active.is_empty()
    }

    /// Counts a cycle that commanded the safe action.
    pub fn count_safe_cycle(&mut self) {
        self.safe_cycles += 1;
    }

    /// Cycles that commanded the safe action.
    pub fn safe_cycles(&self) -> u64 {
        self.safe_cycles
    }

    /// How many times `fault` was raised.
    pub fn raised(&self, fault: Fault) -> u64 {
        self.raised[fault as usize]
    }
}
