//! What went wrong while recording or reading a recording, and where.

use std::path::PathBuf;

/// An error of the recorder or the recording reader. Every variant names the file, and
/// where it applies the channel and the message at fault.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The recording file could not be created.
    #[error("cannot create recording {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The recording file could not be read.
    #[error("cannot read recording {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The recording has no channel on the topic asked for.
    #[error("{path} has no channel on {topic}")]
    NoChannel { path: PathBuf, topic: String },
    /// The file does not start with the MCAP magic bytes.
    #[error("{path} is not an MCAP file: it does not start with the MCAP magic bytes")]
    NotMcap { path: PathBuf },
    /// The file starts as MCAP but does not end with the footer and closing magic.
    #[error(
        "{path} is truncated: it has no MCAP footer and closing magic bytes \
         (the recorder was stopped before it finished the file)"
    )]
    Truncated { path: PathBuf },
    /// The file is complete but has no summary section to index its messages.
    #[error(
        "{path} has no MCAP summary section, so its messages cannot be read in log-time order"
    )]
    NoSummary { path: PathBuf },
    /// The MCAP library rejected the file's summary or the recorder's output.
    #[error("{path}: {what}: {source}")]
    Mcap {
        path: PathBuf,
        what: &'static str,
        source: mcap::McapError,
    },
    /// A message could not be read back.
    #[error("{path}: message {index} (channel {channel}): {source}")]
    Message {
        path: PathBuf,
        /// Position of the message in log-time order, from 0.
        index: u64,
        /// Topic of the channel, or `?` when the failure came before the message header.
        channel: String,
        source: mcap::McapError,
    },
    /// The summary points at chunk bytes beyond the end of the file.
    #[error("{path}: chunk at offset {offset} with {length} bytes lies beyond the end of the file ({file_len} bytes)")]
    ChunkOutOfFile {
        path: PathBuf,
        offset: u64,
        length: usize,
        file_len: usize,
    },
    /// A message refers to a channel the summary does not list.
    #[error("{path}: message {index} refers to channel id {channel_id}, which the summary does not list")]
    UnknownChannelInFile {
        path: PathBuf,
        index: u64,
        channel_id: u16,
    },
    /// The same topic was added twice to one recorder.
    #[error("{path}: topic {topic} was added twice")]
    DuplicateTopic { path: PathBuf, topic: String },
    /// One schema name was added with two different definitions.
    #[error("{path}: schema {name} was added with two different definitions (topic {topic})")]
    ConflictingSchema {
        path: PathBuf,
        name: &'static str,
        topic: String,
    },
    /// A write named a channel this recorder never added.
    #[error("{path}: channel id {channel} was not added to this recorder")]
    UnknownChannel { path: PathBuf, channel: u16 },
    /// A CDR payload shorter than its 4-byte encapsulation header.
    #[error("{path}: message {sequence} on {topic} has {len} bytes, fewer than the 4-byte CDR encapsulation header")]
    ShortPayload {
        path: PathBuf,
        topic: String,
        sequence: u32,
        len: usize,
    },
    /// The recorder thread panicked; the file is likely unfinished.
    #[error("{path}: the recorder thread panicked")]
    RecorderThreadPanicked { path: PathBuf },
    /// The recorder thread could not be started.
    #[error("{path}: cannot start the recorder thread: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
}
