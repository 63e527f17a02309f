//! Recording runs to MCAP and reading them back.
//!
//! Files use the MCAP `ros2` profile as rosbag2's MCAP storage writes it: `ros2msg`
//! schemas, `cdr` messages, the publisher's QoS as `offered_qos_profiles` channel
//! metadata, zstd chunks with message indexes, and a summary with statistics and
//! chunk indexes. Foxglove, `ros2 bag` and rosbags open them; `augur replay` reads them
//! with [`Recording`].
//!
//! The runtime knows no ROS message structs: [`Recorder`] takes payloads that are
//! already CDR-encoded, plus their [`Schema`]. Augur's own plan statistics type,
//! `augur_msgs/msg/PlanStats`, is defined and encoded here ([`PlanStatsMessage`]), and
//! so is `augur_msgs/msg/Cycle` ([`CycleRecord`]), what `augur replay` re-runs.
//! [`RecorderThread`] moves the file writing off the control loop.

/// Appends `builtin_interfaces/msg/Time`, which Augur's own messages use for their
/// stamp, to a `ros2msg` definition (the dependency section rosbag2 writes).
macro_rules! with_time_definition {
    ($definition:literal) => {
        concat!(
            $definition,
            "================================================================================\nMSG: builtin_interfaces/msg/Time\n# This message communicates ROS Time defined here:\n# https://design.ros2.org/articles/clock_and_time.html\n\n# The seconds component, valid over all int32 values.\nint32 sec\n\n# The nanoseconds component, valid in the range [0, 1e9).\nuint32 nanosec\n"
        )
    };
}

mod cycle_record;
mod error;
mod plan_stats;
mod qos;
mod reader;
pub mod replay;
mod thread;
mod writer;

pub use cycle_record::{CycleDecodeError, CycleRecord, Stamp, CYCLE_SCHEMA};
pub use error::RecordError;
pub use plan_stats::{
    PlanStatsDecodeError, PlanStatsMessage, PLAN_STATS_SCHEMA, SAFETY_LIMITED, SAFETY_NOMINAL,
    SAFETY_SAFE_ACTION,
};
pub use qos::{ChannelQos, OFFERED_QOS_PROFILES_KEY};
pub use reader::{
    Messages, RecordedChannel, RecordedMessage, Recording, RecordingStatistics, MAX_RECORD_BYTES,
};
pub use thread::{RecorderHandle, RecorderThread, DROPPED_MESSAGES_KEY, RECORDER_METADATA_NAME};
pub use writer::{
    ChannelId, ChannelSummary, Compression, RecordSummary, Recorder, RecorderOptions, Schema,
    LIBRARY, MESSAGE_ENCODING, PROFILE, SCHEMA_ENCODING,
};
