//! [`Recorder`]: writes already-CDR-encoded messages into an MCAP file with the
//! `ros2` profile, as rosbag2's MCAP storage plugin does.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use mcap::records::MessageHeader;

use super::qos::{ChannelQos, OFFERED_QOS_PROFILES_KEY};
use super::RecordError;

/// The `Header.library` Augur writes.
pub const LIBRARY: &str = concat!("augur ", env!("CARGO_PKG_VERSION"));
/// The MCAP profile of ROS 2 recordings.
pub const PROFILE: &str = "ros2";
/// Schema encoding: `.msg` text with its dependencies appended.
pub const SCHEMA_ENCODING: &str = "ros2msg";
/// Message encoding: CDR with its 4-byte encapsulation header.
pub const MESSAGE_ENCODING: &str = "cdr";

/// A ROS 2 message type as MCAP stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    /// Full type name, e.g. `sensor_msgs/msg/JointState`.
    pub name: &'static str,
    /// The `.msg` text followed by each dependency's, in rosbag2's concatenated
    /// `ros2msg` form (`====…====` line, then `MSG: pkg/msg/Type`).
    pub definition: &'static str,
}

/// Identifies a channel (one topic) of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub u16);

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Chunks stored as they are.
    None,
    /// zstd at its default level, on the recorder's own thread.
    Zstd,
}

/// How a [`Recorder`] lays out its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderOptions {
    /// Chunk compression (default zstd, as rosbag2 and Foxglove write).
    pub compression: Compression,
    /// Uncompressed bytes per chunk before it is compressed and written (default
    /// 1 MiB). Messages of an unfinished chunk are lost if the process dies.
    pub chunk_size: u64,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            chunk_size: mcap::WriteOptions::DEFAULT_CHUNK_SIZE,
        }
    }
}

/// Per-channel counts of a finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    /// The channel.
    pub id: ChannelId,
    /// Its topic.
    pub topic: String,
    /// Messages written to it.
    pub message_count: u64,
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// The file written.
    pub path: PathBuf,
    /// Messages written, all channels.
    pub message_count: u64,
    /// Earliest and latest log time (ns since the epoch), if any message was written.
    pub log_time_range: Option<(u64, u64)>,
    /// Chunks written.
    pub chunk_count: u32,
    /// Per channel, in the order they were added.
    pub channels: Vec<ChannelSummary>,
    /// Messages the off-thread recorder dropped because its queue was full (0 for a
    /// [`Recorder`] used directly).
    pub dropped: u64,
}

struct ChannelState {
    id: u16,
    topic: String,
    /// Sequence number of the next message, from 1.
    next_sequence: u32,
}

/// Writes a ROS 2 MCAP recording: channels with their schema and QoS, then messages
/// that are already CDR-encoded. The runtime knows no ROS message structs; callers
/// bring the bytes and the [`Schema`].
pub struct Recorder {
    path: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    /// Schema name → (definition, MCAP schema id): one schema record per type.
    schemas: BTreeMap<&'static str, (&'static str, u16)>,
    /// In the order added. Looked up by id with a linear scan: a recording has a
    /// handful of channels.
    channels: Vec<ChannelState>,
}

impl Recorder {
    /// Creates (truncates) `path` and writes the MCAP header: profile `ros2`, library
    /// `augur <version>`.
    pub fn create(path: &Path, options: RecorderOptions) -> Result<Recorder, RecordError> {
        let file = File::create(path).map_err(|source| RecordError::Create {
            path: path.to_owned(),
            source,
        })?;
        let compression = match options.compression {
            Compression::None => None,
            Compression::Zstd => Some(mcap::Compression::Zstd),
        };
        let writer = mcap::WriteOptions::new()
            .profile(PROFILE)
            .library(LIBRARY)
            .compression(compression)
            .chunk_size(Some(options.chunk_size))
            // Compress on the recorder's thread only: no extra threads competing with
            // the control loop for cores.
            .compression_threads(0)
            .create(BufWriter::new(file))
            .map_err(|source| RecordError::Mcap {
                path: path.to_owned(),
                what: "writing the MCAP header",
                source,
            })?;
        Ok(Recorder {
            path: path.to_owned(),
            writer,
            schemas: BTreeMap::new(),
            channels: Vec::new(),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a channel for `topic` with message encoding `cdr`, its schema (encoding
    /// `ros2msg`, written once per type) and its QoS in the channel metadata as
    /// rosbag2's `offered_qos_profiles`.
    pub fn add_channel(
        &mut self,
        topic: &str,
        schema: &Schema,
        qos: &ChannelQos,
    ) -> Result<ChannelId, RecordError> {
        if self.channels.iter().any(|c| c.topic == topic) {
            return Err(RecordError::DuplicateTopic {
                path: self.path.clone(),
                topic: topic.to_owned(),
            });
        }
        let schema_id = match self.schemas.get(schema.name) {
            Some(&(definition, id)) if definition == schema.definition => id,
            Some(_) => {
                return Err(RecordError::ConflictingSchema {
                    path: self.path.clone(),
                    name: schema.name,
                    topic: topic.to_owned(),
                })
            }
            None => {
                let id = self
                    .writer
                    .add_schema(schema.name, SCHEMA_ENCODING, schema.definition.as_bytes())
                    .map_err(|source| self.mcap_error("adding a schema", source))?;
                self.schemas.insert(schema.name, (schema.definition, id));
                id
            }
        };
        let metadata =
            BTreeMap::from([(OFFERED_QOS_PROFILES_KEY.to_owned(), qos.to_rosbag2_yaml())]);
        let id = self
            .writer
            .add_channel(schema_id, topic, MESSAGE_ENCODING, &metadata)
            .map_err(|source| self.mcap_error("adding a channel", source))?;
        self.channels.push(ChannelState {
            id,
            topic: topic.to_owned(),
            next_sequence: 1,
        });
        Ok(ChannelId(id))
    }

    /// Writes one message. `cdr` is the serialised message including its 4-byte
    /// encapsulation header; times are ns since the epoch (`log_time`: when Augur
    /// received or produced it, `publish_time`: its source stamp). Sequence numbers
    /// count from 1 per channel.
    ///
    /// Allocation: none once the current chunk buffer has grown; a full chunk is
    /// compressed and written to the file inside this call.
    pub fn write(
        &mut self,
        channel: ChannelId,
        log_time: u64,
        publish_time: u64,
        cdr: &[u8],
    ) -> Result<(), RecordError> {
        let Some(state) = self.channels.iter_mut().find(|c| c.id == channel.0) else {
            return Err(RecordError::UnknownChannel {
                path: self.path.clone(),
                channel: channel.0,
            });
        };
        let sequence = state.next_sequence;
        if cdr.len() < 4 {
            return Err(RecordError::ShortPayload {
                path: self.path.clone(),
                topic: state.topic.clone(),
                sequence,
                len: cdr.len(),
            });
        }
        state.next_sequence = sequence.wrapping_add(1);
        let header = MessageHeader {
            channel_id: channel.0,
            sequence,
            log_time,
            publish_time,
        };
        self.writer
            .write_to_known_channel(&header, cdr)
            .map_err(|source| self.mcap_error("writing a message", source))
    }

    /// Writes an MCAP metadata record (a named string map), e.g. run parameters.
    pub fn write_metadata(
        &mut self,
        name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<(), RecordError> {
        let record = mcap::records::Metadata {
            name: name.to_owned(),
            metadata,
        };
        self.writer
            .write_metadata(&record)
            .map_err(|source| self.mcap_error("writing a metadata record", source))
    }

    /// Closes the last chunk and writes the summary section (schemas, channels,
    /// statistics, chunk indexes; message indexes follow each chunk) and the footer.
    pub fn finish(mut self) -> Result<RecordSummary, RecordError> {
        let summary = self
            .writer
            .finish()
            .map_err(|source| self.mcap_error("writing the summary", source))?;
        let stats = summary.stats.unwrap_or_default();
        let channels = self
            .channels
            .iter()
            .map(|state| ChannelSummary {
                id: ChannelId(state.id),
                topic: state.topic.clone(),
                message_count: stats
                    .channel_message_counts
                    .get(&state.id)
                    .copied()
                    .unwrap_or(0),
            })
            .collect();
        let path = self.path.clone();
        let file = self
            .writer
            .into_inner()
            .into_inner()
            .map_err(|e| RecordError::Create {
                path: path.clone(),
                source: e.into_error(),
            })?;
        file.sync_data().map_err(|source| RecordError::Create {
            path: path.clone(),
            source,
        })?;
        Ok(RecordSummary {
            path,
            message_count: stats.message_count,
            log_time_range: (stats.message_count > 0)
                .then_some((stats.message_start_time, stats.message_end_time)),
            chunk_count: stats.chunk_count,
            channels,
            dropped: 0,
        })
    }

    fn mcap_error(&self, what: &'static str, source: mcap::McapError) -> RecordError {
        RecordError::Mcap {
            path: self.path.clone(),
            what,
            source,
        }
    }
}
