//! `augur run --record FILE.mcap`: every input message, every command and the plan
//! statistics of every cycle, written off the control thread to an MCAP file with the
//! ROS 2 profile (CDR payloads, `ros2msg` schemas, rosbag2's QoS metadata).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use augur_runtime::record::{
    ChannelId, ChannelQos, RecordSummary, Recorder, RecorderHandle, RecorderOptions,
    RecorderThread, Schema, CYCLE_SCHEMA, PLAN_STATS_SCHEMA,
};
use serde::Serialize;

use super::params::NodeParams;

use crate::msg::Message;
use crate::transport::{Reliability, TopicQos};

/// Messages the recorder thread may hold before it drops (and counts) new ones.
const RECORDER_QUEUE: usize = 1024;

/// Topic of the per-cycle plan statistics.
pub const PLAN_STATS_TOPIC: &str = "/augur/plan_stats";

/// Topic of the per-cycle control loop inputs and command (what `augur replay` runs).
pub const CYCLE_TOPIC: &str = "/augur/cycle";

/// MCAP metadata record with the run's model package and parameters.
pub const RUN_METADATA_NAME: &str = "augur.run";

/// Key of the model package folder in [`RUN_METADATA_NAME`].
pub const MODEL_KEY: &str = "model";

/// Key of the model package digest in [`RUN_METADATA_NAME`].
pub const MODEL_DIGEST_KEY: &str = "model_sha256";

/// Prefix of every parameter's key in [`RUN_METADATA_NAME`]; the value is YAML.
pub const PARAM_KEY_PREFIX: &str = "param.";

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
    /// Creates `path` with the planned channels plus the plan statistics and cycle
    /// records, and the run's model and parameters as metadata.
    pub fn create(
        path: &Path,
        plan: ChannelPlan,
        params: &NodeParams,
    ) -> anyhow::Result<Arc<NodeRecorder>> {
        let mut recorder = Recorder::create(path, RecorderOptions::default())?;
        recorder.write_metadata(RUN_METADATA_NAME, run_metadata(params)?)?;
        let mut channels = BTreeMap::new();
        for (topic, schema, qos) in &plan.entries {
            channels.insert(topic.clone(), recorder.add_channel(topic, schema, qos)?);
        }
        for (topic, schema) in [
            (PLAN_STATS_TOPIC, &PLAN_STATS_SCHEMA),
            (CYCLE_TOPIC, &CYCLE_SCHEMA),
        ] {
            channels.insert(
                topic.to_string(),
                recorder.add_channel(topic, schema, &ChannelQos::reliable(10))?,
            );
        }
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

/// The model package (folder and digest) and every parameter value, so `augur replay`
/// can rebuild the same control loop.
fn run_metadata(params: &NodeParams) -> anyhow::Result<BTreeMap<String, String>> {
    let mut metadata = BTreeMap::new();
    metadata.insert(MODEL_KEY.to_string(), params.model.display().to_string());
    metadata.insert(MODEL_DIGEST_KEY.to_string(), package_digest(&params.model)?);
    for (name, value) in &params.values {
        metadata.insert(format!("{PARAM_KEY_PREFIX}{name}"), value.to_yaml());
    }
    Ok(metadata)
}

/// SHA-256 over the package's manifest and graph files, in name order: what makes
/// the model's numbers (node defaults and compiled caches are left out).
pub fn package_digest(package: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut files: Vec<_> = std::fs::read_dir(package)
        .with_context(|| format!("reading model package {}", package.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name == "manifest.toml" || name.ends_with(".onnx")
        })
        .collect();
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        hasher.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64
}
