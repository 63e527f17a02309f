//! `augur_msgs/msg/Cycle`: one control cycle as the control loop saw it, recorded so
//! that `augur replay` can run the same cycles again and compare every command bit
//! for bit.
//!
//! A deadline is not reproducible, so the record keeps what the deadline let the
//! planner do (its model calls); replay gives the planner exactly that many calls.

use serde::{Deserialize, Serialize};

use super::Schema;
use std::time::Duration;

use crate::control::{CycleOutput, CycleTiming, FaultSet};

/// The schema of [`CycleRecord`].
pub const CYCLE_SCHEMA: Schema = Schema {
    name: "augur_msgs/msg/Cycle",
    definition: CYCLE_DEFINITION,
};

const CYCLE_DEFINITION: &str = with_time_definition!(
    "\
# One control cycle of Augur as the control loop saw it: enough to run it again.

builtin_interfaces/Time stamp  # when the cycle started
uint64 cycle                   # control cycle number since start
bool reset                     # a new episode started before this cycle
bool has_observation           # an observation was planned on
bool fresh                     # new sensor data arrived since the previous cycle
uint8 timing_faults            # faults decided from timing (bit per fault)
uint8 delay_steps              # model steps the observation was predicted forward (delay compensation)
float32[] observation          # the raw observation, before normalisation
uint64 model_calls             # model calls the planner made (the replay budget)
uint64 model_transitions       # rows run through the dynamics graph
bool planned                   # the planner's action was usable
uint8 faults                   # active faults after the cycle (bit per fault)
float32[] command              # the command sent
uint64 start_lateness_ns       # how late the cycle started against its schedule
uint64 trigger_wait_ns         # trigger sample received -> cycle start (observation trigger)
uint64 compute_ns              # cycle start -> command ready (encode, plan, safety)
float32[] image                # an image model's encoder input (frames x channels x height x width, normalised); empty otherwise

"
);

/// CDR little-endian encapsulation header (`CDR_LE`, options 0).
const CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// `builtin_interfaces/msg/Time`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub sec: i32,
    pub nanosec: u32,
}

/// One `augur_msgs/msg/Cycle`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    pub stamp: Stamp,
    pub cycle: u64,
    pub reset: bool,
    pub has_observation: bool,
    pub fresh: bool,
    pub timing_faults: u8,
    pub delay_steps: u8,
    pub observation: Vec<f32>,
    pub model_calls: u64,
    pub model_transitions: u64,
    pub planned: bool,
    pub faults: u8,
    pub command: Vec<f32>,
    pub start_lateness_ns: u64,
    pub trigger_wait_ns: u64,
    pub compute_ns: u64,
    /// An image model's encoder input as planned on (frames stacked, normalised), so
    /// that replay needs no camera frames; empty for vector models and without a plan.
    pub image: Vec<f32>,
}

/// A Cycle payload that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum CycleDecodeError {
    #[error("Cycle: encapsulation header {0:02x?} is not CDR little-endian")]
    Encapsulation(Vec<u8>),
    #[error("Cycle: {0}")]
    Body(#[from] cdr_encoding::Error),
}

impl CycleRecord {
    /// What `output` and `timing` say about a cycle that started at `started_ns`
    /// (Unix nanoseconds).
    pub fn from_output(output: &CycleOutput, timing: &CycleTiming, started_ns: u64) -> CycleRecord {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        CycleRecord {
            stamp: Stamp {
                sec: i32::try_from(started_ns / 1_000_000_000).unwrap_or(i32::MAX),
                nanosec: (started_ns % 1_000_000_000) as u32,
            },
            cycle: output.cycle,
            reset: output.reset,
            has_observation: output.has_observation,
            fresh: output.fresh,
            timing_faults: output.timing_faults.bits(),
            delay_steps: output.delay_steps,
            observation: if output.has_observation {
                output.observation().to_vec()
            } else {
                Vec::new()
            },
            model_calls: output.plan.model_calls,
            model_transitions: output.plan.model_transitions,
            planned: output.planned,
            faults: output.faults.bits(),
            command: output.command().to_vec(),
            start_lateness_ns: nanos(timing.start_lateness),
            trigger_wait_ns: timing.trigger_received.map_or(0, |received| {
                nanos(timing.started.saturating_duration_since(received))
            }),
            compute_ns: nanos(timing.finished.saturating_duration_since(timing.started)),
            image: Vec::new(),
        }
    }

    /// The timing faults the cycle was given.
    pub fn timing_faults(&self) -> FaultSet {
        FaultSet::from_bits(self.timing_faults)
    }

    /// Appends the CDR payload (encapsulation header included) to `buf`.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&CDR_LE);
        // Serialising plain integers, bools and float vectors cannot fail.
        if let Ok(body) = cdr_encoding::to_vec::<_, byteorder::LittleEndian>(self) {
            buf.extend_from_slice(&body);
        }
    }

    /// Decodes a payload written by [`CycleRecord::encode_into`].
    pub fn decode(payload: &[u8]) -> Result<CycleRecord, CycleDecodeError> {
        if payload.len() < 4 || payload[..4] != CDR_LE {
            return Err(CycleDecodeError::Encapsulation(
                payload[..payload.len().min(4)].to_vec(),
            ));
        }
        match cdr_encoding::from_bytes::<_, byteorder::LittleEndian>(&payload[4..]) {
            Ok((record, _)) => Ok(record),
            Err(error) => {
                // Recordings from before `image` was added end at `compute_ns`: the
                // same bytes with an empty `image` sequence (a zero length) appended.
                // Accepted only if that is exactly what the bytes were, so a cut-off
                // record of today's layout is still refused.
                let mut legacy = payload.to_vec();
                legacy.extend_from_slice(&[0; 4]);
                let decoded =
                    cdr_encoding::from_bytes::<CycleRecord, byteorder::LittleEndian>(&legacy[4..]);
                match decoded {
                    Ok((record, _)) if record.image.is_empty() => {
                        let mut again = Vec::new();
                        record.encode_into(&mut again);
                        if again == legacy {
                            Ok(record)
                        } else {
                            Err(CycleDecodeError::Body(error))
                        }
                    }
                    _ => Err(CycleDecodeError::Body(error)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_cdr_with_unaligned_vectors() {
        let record = CycleRecord {
            stamp: Stamp {
                sec: 17,
                nanosec: 5,
            },
            cycle: 42,
            reset: true,
            has_observation: true,
            fresh: false,
            timing_faults: 0b10,
            delay_steps: 1,
            observation: vec![1.5, -0.25, f32::MIN_POSITIVE],
            model_calls: 9,
            model_transitions: 2048,
            planned: true,
            faults: 0,
            command: vec![-2.0],
            start_lateness_ns: 3,
            trigger_wait_ns: 0,
            compute_ns: 1_000_000,
            image: vec![0.5, -0.5],
        };
        let mut buf = Vec::new();
        record.encode_into(&mut buf);
        assert_eq!(buf[..4], CDR_LE);
        // cycle (u64) sits at CDR offset 8, after the 8-byte stamp.
        assert_eq!(buf[4 + 8..4 + 16], 42u64.to_le_bytes());
        assert_eq!(CycleRecord::decode(&buf).unwrap(), record);
        assert!(matches!(
            CycleRecord::decode(&buf[..3]),
            Err(CycleDecodeError::Encapsulation(_))
        ));
        assert!(matches!(
            CycleRecord::decode(&buf[..buf.len() - 2]),
            Err(CycleDecodeError::Body(_))
        ));
        // A record written before `image` existed (it ends at `compute_ns`) still
        // decodes, with no image.
        let old = CycleRecord {
            image: Vec::new(),
            ..record.clone()
        };
        let mut old_buf = Vec::new();
        old.encode_into(&mut old_buf);
        old_buf.truncate(old_buf.len() - 4);
        assert_eq!(CycleRecord::decode(&old_buf).unwrap(), old);
    }
}
