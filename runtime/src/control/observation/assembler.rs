//! The control thread's side: the latest value of every feature and the age of
//! every source, assembled into the observation vector without allocating.

use std::time::{Duration, Instant};

use super::{ObservationMap, Sample, MAX_FEATURES, MAX_SOURCES};

/// The control thread's view of the observation: the latest value of every feature
/// and when each source was last heard from.
#[derive(Clone, Debug)]
pub struct Assembler {
    values: [f64; MAX_FEATURES],
    have: u64,
    complete: u64,
    len: usize,
    last_seen: [Option<Instant>; MAX_SOURCES],
    sources: usize,
}

impl Assembler {
    /// An empty assembler for `map`.
    pub fn new(map: &ObservationMap) -> Assembler {
        let len = map.features().len();
        Assembler {
            values: [0.0; MAX_FEATURES],
            have: 0,
            complete: if len == 64 { u64::MAX } else { (1 << len) - 1 },
            len,
            last_seen: [None; MAX_SOURCES],
            sources: map.sources().len(),
        }
    }

    /// Takes a sample's features.
    pub fn update(&mut self, sample: &Sample) {
        for i in 0..self.len {
            if sample.mask & (1 << i) != 0 {
                self.values[i] = sample.values[i];
            }
        }
        self.have |= sample.mask;
        self.last_seen[sample.source] = Some(sample.received);
    }

    /// Whether every feature has been received at least once.
    pub fn is_complete(&self) -> bool {
        self.have & self.complete == self.complete
    }

    /// Age of the oldest source at `now` (`None` until every source was heard from).
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_seen[..self.sources]
            .iter()
            .map(|seen| seen.map(|t| now.saturating_duration_since(t)))
            .try_fold(Duration::ZERO, |oldest, age| Some(oldest.max(age?)))
    }

    /// Writes the observation (raw units, as `f32`) into `out`; true if all are finite.
    pub fn write(&self, out: &mut [f32]) -> bool {
        let mut finite = true;
        for (o, v) in out.iter_mut().zip(&self.values[..self.len]) {
            *o = *v as f32;
            finite &= o.is_finite();
        }
        finite
    }

    /// Forgets everything (a new episode).
    pub fn clear(&mut self) {
        self.have = 0;
        self.last_seen = [None; MAX_SOURCES];
    }
}
