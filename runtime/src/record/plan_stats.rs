//! `augur_msgs/msg/PlanStats`: Augur's own message with each cycle's plan statistics,
//! recorded beside the ROS topics. Its definition travels in the MCAP schema, so
//! Foxglove and rosbags decode it without the type installed.

use std::time::Duration;

use super::writer::Schema;

/// The `augur_msgs/msg/PlanStats` type, with `builtin_interfaces/msg/Time` appended in
/// rosbag2's `ros2msg` form.
pub const PLAN_STATS_SCHEMA: Schema = Schema {
    name: "augur_msgs/msg/PlanStats",
    definition: PLAN_STATS_DEFINITION,
};

const PLAN_STATS_DEFINITION: &str = with_time_definition!(
    "\
# Statistics of one control cycle of Augur's planner.

uint8 SAFETY_NOMINAL=0      # the planned action was sent as planned
uint8 SAFETY_LIMITED=1      # the planned action was clamped or rate-limited
uint8 SAFETY_SAFE_ACTION=2  # the safe action was sent instead of the plan

builtin_interfaces/Time stamp  # when the cycle's observation was taken
uint64 cycle                   # control cycle number since start
uint64 model_calls             # model calls made, of every graph
uint64 model_transitions       # rows run through the dynamics graph
uint64 trajectories            # horizon-length trajectories evaluated
uint64 nodes_expanded          # tree nodes created (0 for MPPI)
uint32 iterations              # MPPI iterations or tree batches
uint32 depth_reached           # deepest level searched
float32 best_value             # best predicted return (-inf if none)
float64 plan_time_ms           # wall-clock time in the planner
float64 cycle_time_ms          # wall-clock time of the whole cycle
bool budget_exhausted          # the budget stopped the search
bool deadline_missed           # the cycle overran its period
uint8 safety_state             # one of SAFETY_*

"
);

/// `safety_state`: the planned action was sent as planned.
pub const SAFETY_NOMINAL: u8 = 0;
/// `safety_state`: the planned action was clamped or rate-limited.
pub const SAFETY_LIMITED: u8 = 1;
/// `safety_state`: the safe action was sent instead of the plan.
pub const SAFETY_SAFE_ACTION: u8 = 2;

/// One `augur_msgs/msg/PlanStats` message.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlanStatsMessage {
    /// `stamp.sec`.
    pub stamp_sec: i32,
    /// `stamp.nanosec`.
    pub stamp_nanosec: u32,
    pub cycle: u64,
    pub model_calls: u64,
    pub model_transitions: u64,
    pub trajectories: u64,
    pub nodes_expanded: u64,
    pub iterations: u32,
    pub depth_reached: u32,
    pub best_value: f32,
    pub plan_time_ms: f64,
    pub cycle_time_ms: f64,
    pub budget_exhausted: bool,
    pub deadline_missed: bool,
    /// One of `SAFETY_*`.
    pub safety_state: u8,
}

/// CDR little-endian encapsulation header (`CDR_LE`, options 0).
const CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// A PlanStats payload that is not what this module writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanStatsDecodeError {
    /// The encapsulation header is not little-endian plain CDR.
    #[error("PlanStats: encapsulation header {0:02x?} is not CDR little-endian")]
    Encapsulation([u8; 4]),
    /// The payload ends before the named field.
    #[error("PlanStats: payload of {len} bytes ends inside field {field}")]
    Short { len: usize, field: &'static str },
}

impl PlanStatsMessage {
    /// Encoded size in bytes, encapsulation header included.
    pub const ENCODED_LEN: usize = 4 + 83;

    /// Fills the message from the planner's statistics of this cycle.
    pub fn from_plan(
        stamp: Duration,
        cycle: u64,
        plan: &augur_planner::PlanStats,
        cycle_time: Duration,
        deadline_missed: bool,
        safety_state: u8,
    ) -> Self {
        Self {
            // ROS time is i32 seconds: fine until 2038, as for every ROS 2 stamp.
            stamp_sec: stamp.as_secs() as i32,
            stamp_nanosec: stamp.subsec_nanos(),
            cycle,
            model_calls: plan.model_calls,
            model_transitions: plan.model_transitions,
            trajectories: plan.trajectories,
            nodes_expanded: plan.nodes_expanded,
            iterations: plan.iterations,
            depth_reached: plan.depth_reached,
            best_value: plan.best_value,
            plan_time_ms: plan.elapsed.as_secs_f64() * 1e3,
            cycle_time_ms: cycle_time.as_secs_f64() * 1e3,
            budget_exhausted: plan.budget_exhausted,
            deadline_missed,
            safety_state,
        }
    }

    /// Appends the CDR encoding (header included) to `buf`.
    ///
    /// Allocation: none if `buf` has [`Self::ENCODED_LEN`] spare capacity.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        let mut w = CdrWriter::new(buf);
        w.put(&self.stamp_sec.to_le_bytes());
        w.put(&self.stamp_nanosec.to_le_bytes());
        w.put(&self.cycle.to_le_bytes());
        w.put(&self.model_calls.to_le_bytes());
        w.put(&self.model_transitions.to_le_bytes());
        w.put(&self.trajectories.to_le_bytes());
        w.put(&self.nodes_expanded.to_le_bytes());
        w.put(&self.iterations.to_le_bytes());
        w.put(&self.depth_reached.to_le_bytes());
        w.put(&self.best_value.to_le_bytes());
        w.put(&self.plan_time_ms.to_le_bytes());
        w.put(&self.cycle_time_ms.to_le_bytes());
        w.put(&[u8::from(self.budget_exhausted)]);
        w.put(&[u8::from(self.deadline_missed)]);
        w.put(&[self.safety_state]);
    }

    /// The CDR encoding (header included) in a new buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(Self::ENCODED_LEN);
        self.encode_into(&mut buf);
        buf
    }

    /// Decodes a payload written by [`Self::encode_into`] (or any little-endian CDR
    /// writer of this type).
    pub fn decode(cdr: &[u8]) -> Result<Self, PlanStatsDecodeError> {
        let mut r = CdrReader::new(cdr)?;
        Ok(Self {
            stamp_sec: i32::from_le_bytes(r.take("stamp.sec")?),
            stamp_nanosec: u32::from_le_bytes(r.take("stamp.nanosec")?),
            cycle: u64::from_le_bytes(r.take("cycle")?),
            model_calls: u64::from_le_bytes(r.take("model_calls")?),
            model_transitions: u64::from_le_bytes(r.take("model_transitions")?),
            trajectories: u64::from_le_bytes(r.take("trajectories")?),
            nodes_expanded: u64::from_le_bytes(r.take("nodes_expanded")?),
            iterations: u32::from_le_bytes(r.take("iterations")?),
            depth_reached: u32::from_le_bytes(r.take("depth_reached")?),
            best_value: f32::from_le_bytes(r.take("best_value")?),
            plan_time_ms: f64::from_le_bytes(r.take("plan_time_ms")?),
            cycle_time_ms: f64::from_le_bytes(r.take("cycle_time_ms")?),
            budget_exhausted: r.take::<1>("budget_exhausted")?[0] != 0,
            deadline_missed: r.take::<1>("deadline_missed")?[0] != 0,
            safety_state: r.take::<1>("safety_state")?[0],
        })
    }
}

/// Appends CDR primitives, each aligned to its own size relative to the end of the
/// encapsulation header.
struct CdrWriter<'a> {
    buf: &'a mut Vec<u8>,
    body_start: usize,
}

impl<'a> CdrWriter<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        buf.extend_from_slice(&CDR_LE);
        let body_start = buf.len();
        Self { buf, body_start }
    }

    fn put(&mut self, bytes: &[u8]) {
        let misalignment = (self.buf.len() - self.body_start) % bytes.len();
        if misalignment != 0 {
            let padding = bytes.len() - misalignment;
            self.buf.resize(self.buf.len() + padding, 0);
        }
        self.buf.extend_from_slice(bytes);
    }
}

/// Reads CDR primitives with the same alignment rule as [`CdrWriter`].
struct CdrReader<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> CdrReader<'a> {
    fn new(cdr: &'a [u8]) -> Result<Self, PlanStatsDecodeError> {
        let Some((header, body)) = cdr.split_first_chunk::<4>() else {
            return Err(PlanStatsDecodeError::Short {
                len: cdr.len(),
                field: "encapsulation header",
            });
        };
        // Options bytes (2..4) carry padding counts; only the representation matters.
        if header[..2] != CDR_LE[..2] {
            return Err(PlanStatsDecodeError::Encapsulation(*header));
        }
        Ok(Self { body, pos: 0 })
    }

    fn take<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], PlanStatsDecodeError> {
        let start = self.pos.next_multiple_of(N);
        let bytes = self
            .body
            .get(start..start + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or(PlanStatsDecodeError::Short {
                len: self.body.len() + 4,
                field,
            })?;
        self.pos = start + N;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// The same type laid out for serde, to check the hand-written encoder against
    /// cdr-encoding.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct SerdePlanStats {
        sec: i32,
        nanosec: u32,
        cycle: u64,
        model_calls: u64,
        model_transitions: u64,
        trajectories: u64,
        nodes_expanded: u64,
        iterations: u32,
        depth_reached: u32,
        best_value: f32,
        plan_time_ms: f64,
        cycle_time_ms: f64,
        budget_exhausted: bool,
        deadline_missed: bool,
        safety_state: u8,
    }

    fn sample() -> PlanStatsMessage {
        PlanStatsMessage {
            stamp_sec: 1_700_000_123,
            stamp_nanosec: 456_789_000,
            cycle: 42,
            model_calls: 17,
            model_transitions: 4096,
            trajectories: 512,
            nodes_expanded: 300,
            iterations: 6,
            depth_reached: 12,
            best_value: -3.25,
            plan_time_ms: 7.5,
            cycle_time_ms: 9.125,
            budget_exhausted: true,
            deadline_missed: false,
            safety_state: SAFETY_LIMITED,
        }
    }

    #[test]
    fn encoding_matches_cdr_encoding_serde() {
        let m = sample();
        let ours = m.encode();
        assert_eq!(ours.len(), PlanStatsMessage::ENCODED_LEN);
        let serde = SerdePlanStats {
            sec: m.stamp_sec,
            nanosec: m.stamp_nanosec,
            cycle: m.cycle,
            model_calls: m.model_calls,
            model_transitions: m.model_transitions,
            trajectories: m.trajectories,
            nodes_expanded: m.nodes_expanded,
            iterations: m.iterations,
            depth_reached: m.depth_reached,
            best_value: m.best_value,
            plan_time_ms: m.plan_time_ms,
            cycle_time_ms: m.cycle_time_ms,
            budget_exhausted: m.budget_exhausted,
            deadline_missed: m.deadline_missed,
            safety_state: m.safety_state,
        };
        let body = cdr_encoding::to_vec::<_, byteorder::LittleEndian>(&serde).unwrap();
        assert_eq!(&ours[..4], &CDR_LE);
        assert_eq!(&ours[4..], &body[..]);
    }

    #[test]
    fn decode_inverts_encode() {
        let m = sample();
        assert_eq!(PlanStatsMessage::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn short_or_big_endian_payloads_are_refused() {
        let bytes = sample().encode();
        assert_eq!(
            PlanStatsMessage::decode(&bytes[..40]),
            Err(PlanStatsDecodeError::Short {
                len: 40,
                field: "trajectories"
            })
        );
        let mut big_endian = bytes.clone();
        big_endian[1] = 0x00;
        assert!(matches!(
            PlanStatsMessage::decode(&big_endian),
            Err(PlanStatsDecodeError::Encapsulation(_))
        ));
    }

    #[test]
    fn encode_into_reuses_capacity() {
        let mut buf = Vec::with_capacity(PlanStatsMessage::ENCODED_LEN);
        let ptr = buf.as_ptr();
        sample().encode_into(&mut buf);
        assert_eq!(buf.as_ptr(), ptr);
    }
}
