//! `augur run --record FILE.mcap`: every input message, every command and the plan
//! statistics of every cycle, written off the control thread to an MCAP file with the
//! ROS 2 profile (CDR payloads, `ros2msg` schemas, rosbag2's QoS metadata).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use augur_runtime::record::{
    ChannelId, ChannelQos, RecordSummary, Recorder, RecorderHandle, RecorderOptions,
    RecorderThread, Schema, PLAN_STATS_SCHEMA,
};
use serde::Serialize;

use crate::msg::Message;
use crate::transport::{Reliability, TopicQos};

/// Messages the recorder thread may hold before it drops (and counts) new ones.
const RECORDER_QUEUE: usize = 1024;

/// Topic of the per-cycle plan statistics.
pub const PLAN_STATS_TOPIC: &str = "/augur/plan_stats";

/// The open recording, shared by the ingest callbacks and the publisher thread.
pub struct NodeRecorder {
    handle: RecorderHandle,
    channels: BTreeMap<String, ChannelId>,
}

/// Channels to declare before recording starts: topic, schema, QoS.
pub struct ChannelPlan {
    entries: Vec<(String, Schema, ChannelQos)>,
}

impl ChannelPlan {
    /// No channels yet.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// A channel for messages of type `M` on `topic`.
    pub fn add<M: Message>(&mut self, topic: &str, qos: &TopicQos) {
        // Schemas are `'static`; one small string per channel type, once per run.
        let name: &'static str = Box::leak(M::ros_name().into_boxed_str());
        let qos = match qos.reliability {
            Reliability::Reliable => ChannelQos::reliable(qos.depth as u32),
            Reliability::BestEffort => ChannelQos::best_effort(qos.depth as u32),
        };
        self.entries.push((
            topic.to_string(),
            Schema {
                name,
                definition: M::DEFINITION,
            },
            qos,
        ));
    }
}

impl Default for ChannelPlan {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeRecorder {
    /// Creates `path` with the planned channels plus the plan statistics.
    pub fn create(path: &Path, plan: ChannelPlan) -> anyhow::Result<Arc<NodeRecorder>> {
        let mut recorder = Recorder::create(path, RecorderOptions::default())?;
        let mut channels = BTreeMap::new();
        for (topic, schema, qos) in &plan.entries {
            channels.insert(topic.clone(), recorder.add_channel(topic, schema, qos)?);
        }
        channels.insert(
            PLAN_STATS_TOPIC.to_string(),
            recorder.add_channel(
                PLAN_STATS_TOPIC,
                &PLAN_STATS_SCHEMA,
                &ChannelQos::reliable(10),
            )?,
        );
        let handle = RecorderThread::spawn(recorder, RECORDER_QUEUE)?;
        Ok(Arc::new(NodeRecorder { handle, channels }))
    }

    /// Records `message` on `topic` (CDR, little endian, with the encapsulation
    /// header). Returns false if it was dropped.
    pub fn write<M: Serialize>(&self, topic: &str, publish_time: Option<u64>, message: &M) -> bool {
        let Some(&channel) = self.channels.get(topic) else {
            return false;
        };
        let now = now_ns();
        self.handle
            .write_with(channel, now, publish_time.unwrap_or(now), |buf| {
                buf.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]);
                if let Ok(body) = cdr_encoding::to_vec::<M, byteorder::LittleEndian>(message) {
                    buf.extend_from_slice(&body);
                }
            })
    }

    /// Records already-encoded CDR on `topic`.
    pub fn write_cdr(&self, topic: &str, cdr: impl FnOnce(&mut Vec<u8>)) -> bool {
        let Some(&channel) = self.channels.get(topic) else {
            return false;
        };
        let now = now_ns();
        self.handle.write_with(channel, now, now, cdr)
    }

    /// Messages dropped because the recorder fell behind.
    pub fn dropped(&self) -> u64 {
        self.handle.dropped()
    }

    /// Flushes and closes the file (when the last reference goes).
    pub fn finish(this: Arc<NodeRecorder>) -> Option<anyhow::Result<RecordSummary>> {
        Arc::into_inner(this).map(|r| r.handle.finish().map_err(Into::into))
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64
}
