//! [`Recording`]: reads an MCAP recording back for `augur replay`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcap::sans_io::indexed_reader::{
    IndexedReadEvent, IndexedReader, IndexedReaderOptions, ReadOrder,
};

use super::qos::{ChannelQos, OFFERED_QOS_PROFILES_KEY};
use super::writer::ChannelId;
use super::RecordError;

/// The largest record, compressed or not, a recording may hold: a chunk index that
/// claims a longer (uncompressed) chunk is refused before anything is allocated for
/// it. Augur and rosbag2 write chunks of under 1 MiB; camera frames are a few MB.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// One channel of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedChannel {
    /// Its id in this file.
    pub id: ChannelId,
    /// Topic name.
    pub topic: String,
    /// Schema (type) name, e.g. `sensor_msgs/msg/JointState`; empty if schemaless.
    pub schema_name: String,
    /// Schema encoding, `ros2msg` for Augur's and rosbag2's recordings.
    pub schema_encoding: String,
    /// Schema text (the concatenated `.msg` definitions for `ros2msg`).
    pub schema_definition: String,
    /// Message encoding, `cdr` for ROS 2.
    pub message_encoding: String,
    /// The offered QoS from the `offered_qos_profiles` metadata, if present and readable.
    pub qos: Option<ChannelQos>,
    /// All channel metadata as stored.
    pub metadata: BTreeMap<String, String>,
}

/// One message of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// Its channel.
    pub channel: ChannelId,
    /// Per-channel sequence number as written.
    pub sequence: u32,
    /// Log time, ns since the epoch.
    pub log_time: u64,
    /// Publish time, ns since the epoch.
    pub publish_time: u64,
    /// The payload (CDR with its encapsulation header for ROS 2).
    pub data: Vec<u8>,
}

/// Counts from the recording's statistics record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingStatistics {
    /// Messages in the file.
    pub message_count: u64,
    /// Earliest and latest log time (0, 0 when empty).
    pub log_time_range: (u64, u64),
    /// Chunks in the file.
    pub chunk_count: u32,
    /// Schemas in the file.
    pub schema_count: u16,
    /// Messages per channel.
    pub channel_message_counts: BTreeMap<ChannelId, u64>,
}

/// A finished MCAP recording, read whole into memory and indexed by its summary.
pub struct Recording {
    path: PathBuf,
    bytes: Vec<u8>,
    summary: mcap::Summary,
    profile: String,
    library: String,
    channels: Vec<RecordedChannel>,
}

impl Recording {
    /// Opens and indexes a recording. A file that is not MCAP, or one cut short (no
    /// footer: the recorder did not finish), is refused with an error that says so.
    pub fn open(path: &Path) -> Result<Recording, RecordError> {
        let bytes = std::fs::read(path).map_err(|source| RecordError::Read {
            path: path.to_owned(),
            source,
        })?;
        Recording::from_bytes(path, bytes)
    }

    /// [`Recording::open`] on a file's bytes, read already; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Recording, RecordError> {
        if !bytes.starts_with(mcap::MAGIC) {
            return Err(RecordError::NotMcap {
                path: path.to_owned(),
            });
        }
        if bytes.len() < 2 * mcap::MAGIC.len() || !bytes.ends_with(mcap::MAGIC) {
            return Err(RecordError::Truncated {
                path: path.to_owned(),
            });
        }
        let mcap_error = |what, source| RecordError::Mcap {
            path: path.to_owned(),
            what,
            source,
        };
        // mcap 0.26 reserves whatever length a string claims (up to 4 GiB) before
        // reading it; the records it reads that way are checked first.
        check_record_strings(&bytes).map_err(|what| mcap_error(what, mcap::McapError::BadIndex))?;
        let summary = mcap::Summary::read(&bytes)
            .map_err(|source| mcap_error("reading the summary", source))?
            .ok_or_else(|| RecordError::NoSummary {
                path: path.to_owned(),
            })?;
        let (profile, library) =
            read_header(&bytes).map_err(|source| mcap_error("reading the header", source))?;

        let mut channels: Vec<RecordedChannel> = summary
            .channels
            .values()
            .map(|c| {
                let schema = c.schema.as_deref();
                RecordedChannel {
                    id: ChannelId(c.id),
                    topic: c.topic.clone(),
                    schema_name: schema.map(|s| s.name.clone()).unwrap_or_default(),
                    schema_encoding: schema.map(|s| s.encoding.clone()).unwrap_or_default(),
                    schema_definition: schema
                        .map(|s| String::from_utf8_lossy(&s.data).into_owned())
                        .unwrap_or_default(),
                    message_encoding: c.message_encoding.clone(),
                    qos: c
                        .metadata
                        .get(OFFERED_QOS_PROFILES_KEY)
                        .and_then(|yaml| ChannelQos::from_rosbag2_yaml(yaml)),
                    metadata: c.metadata.clone(),
                }
            })
            .collect();
        channels.sort_by_key(|c| c.id);
        Ok(Recording {
            path: path.to_owned(),
            bytes,
            summary,
            profile,
            library,
            channels,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header's profile (`ros2` for ROS 2 recordings).
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The header's library, e.g. `augur 0.1.0`.
    pub fn library(&self) -> &str {
        &self.library
    }

    /// The channels, by id.
    pub fn channels(&self) -> &[RecordedChannel] {
        &self.channels
    }

    /// The channel with this id.
    pub fn channel(&self, id: ChannelId) -> Option<&RecordedChannel> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// The channel recording this topic.
    pub fn channel_by_topic(&self, topic: &str) -> Option<&RecordedChannel> {
        self.channels.iter().find(|c| c.topic == topic)
    }

    /// The statistics record, if the file has one.
    pub fn statistics(&self) -> Option<RecordingStatistics> {
        self.summary.stats.as_ref().map(|s| RecordingStatistics {
            message_count: s.message_count,
            log_time_range: (s.message_start_time, s.message_end_time),
            chunk_count: s.chunk_count,
            schema_count: s.schema_count,
            channel_message_counts: s
                .channel_message_counts
                .iter()
                .map(|(&id, &n)| (ChannelId(id), n))
                .collect(),
        })
    }

    /// The metadata records named `name`, in file order.
    pub fn metadata(&self, name: &str) -> Result<Vec<BTreeMap<String, String>>, RecordError> {
        self.summary
            .metadata_indexes
            .iter()
            .filter(|index| index.name == name)
            .map(|index| {
                // mcap 0.26 adds offset and length unchecked (a crafted index
                // wraps around and panics on the slice): check them here first.
                let inside = index
                    .offset
                    .checked_add(index.length)
                    .is_some_and(|end| end <= self.bytes.len() as u64);
                // mcap 0.26 also reserves whatever length a string in the record
                // claims (up to 4 GiB) before reading it: check the strings too.
                let record = inside.then(|| {
                    &self.bytes[index.offset as usize..(index.offset + index.length) as usize]
                });
                if record.and_then(record_fits).is_none() {
                    return Err(RecordError::Mcap {
                        path: self.path.clone(),
                        what: "reading a metadata record",
                        source: mcap::McapError::BadIndex,
                    });
                }
                mcap::read::metadata(&self.bytes, index)
                    .map(|m| m.metadata)
                    .map_err(|source| RecordError::Mcap {
                        path: self.path.clone(),
                        what: "reading a metadata record",
                        source,
                    })
            })
            .collect()
    }

    /// Every message in log-time order (ties in file order), read through the chunk
    /// and message indexes.
    pub fn messages(&self) -> Messages<'_> {
        let options = IndexedReaderOptions::new()
            .with_order(ReadOrder::LogTime)
            .with_record_length_limit(MAX_RECORD_BYTES);
        let reader = IndexedReader::new_with_options(&self.summary, options).map_err(|source| {
            RecordError::Mcap {
                path: self.path.clone(),
                what: "indexing the messages",
                source,
            }
        });
        Messages {
            recording: self,
            reader: Some(reader),
            index: 0,
        }
    }
}

impl Recording {
    /// The messages on `topic`, in log-time order.
    pub fn messages_on(&self, topic: &str) -> Result<Vec<RecordedMessage>, RecordError> {
        let channel = self
            .channel_by_topic(topic)
            .ok_or_else(|| RecordError::NoChannel {
                path: self.path.clone(),
                topic: topic.to_string(),
            })?
            .id;
        let mut messages = Vec::new();
        for message in self.messages() {
            let message = message?;
            if message.channel == channel {
                messages.push(message);
            }
        }
        Ok(messages)
    }
}

/// Iterator over a [`Recording`]'s messages; see [`Recording::messages`]. It stops
/// after the first error.
pub struct Messages<'a> {
    recording: &'a Recording,
    reader: Option<Result<IndexedReader, RecordError>>,
    index: u64,
}

impl Iterator for Messages<'_> {
    type Item = Result<RecordedMessage, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self.advance()?;
        if result.is_err() {
            self.reader = None;
        } else {
            self.index += 1;
        }
        Some(result)
    }
}

impl Messages<'_> {
    fn advance(&mut self) -> Option<Result<RecordedMessage, RecordError>> {
        let recording = self.recording;
        let index = self.index;
        let reader = match self.reader.as_mut()? {
            Ok(reader) => reader,
            Err(_) => {
                // Hand the indexing error out once, then end.
                let Some(Err(e)) = self.reader.take() else {
                    unreachable!("matched Err just above")
                };
                return Some(Err(e));
            }
        };
        let message_error = |channel: String, source| RecordError::Message {
            path: recording.path.clone(),
            index,
            channel,
            source,
        };
        loop {
            match reader.next_event()? {
                Err(source) => return Some(Err(message_error("?".to_owned(), source))),
                Ok(IndexedReadEvent::ReadChunkRequest { offset, length }) => {
                    let bytes = &recording.bytes;
                    let Some(chunk) = usize::try_from(offset)
                        .ok()
                        .and_then(|start| bytes.get(start..start.checked_add(length)?))
                    else {
                        return Some(Err(RecordError::ChunkOutOfFile {
                            path: recording.path.clone(),
                            offset,
                            length,
                            file_len: bytes.len(),
                        }));
                    };
                    if let Err(source) = reader.insert_chunk_record_data(offset, chunk) {
                        return Some(Err(message_error("?".to_owned(), source)));
                    }
                }
                Ok(IndexedReadEvent::Message { header, data }) => {
                    let channel = ChannelId(header.channel_id);
                    if recording.channel(channel).is_none() {
                        return Some(Err(RecordError::UnknownChannelInFile {
                            path: recording.path.clone(),
                            index,
                            channel_id: header.channel_id,
                        }));
                    }
                    return Some(Ok(RecordedMessage {
                        channel,
                        sequence: header.sequence,
                        log_time: header.log_time,
                        publish_time: header.publish_time,
                        data: data.to_vec(),
                    }));
                }
            }
        }
    }
}

/// One field of an MCAP record, as far as checking its lengths needs.
#[derive(Clone, Copy)]
enum Field {
    U16,
    U64,
    /// u32 length, then that many bytes (strings and byte arrays).
    Sized,
    /// u32 byte length, then pairs of strings.
    StringMap,
}

/// The fields of the records whose strings mcap 0.26 reads by reserving the length
/// they claim (binrw's `Vec::reserve_exact`, up to 4 GiB), in the MCAP spec's order.
/// A ChunkIndex's u16 -> u64 map is `Sized` (fixed-size pairs, never reserved).
fn string_fields(opcode: u8) -> Option<&'static [Field]> {
    use Field::*;
    Some(match opcode {
        0x01 => &[Sized, Sized],                                    // Header
        0x03 => &[U16, Sized, Sized, Sized],                        // Schema
        0x04 => &[U16, U16, Sized, Sized, StringMap],               // Channel
        0x08 => &[U64, U64, U64, U64, Sized, U64, Sized, U64, U64], // ChunkIndex
        0x0A => &[U64, U64, U64, U64, U64, Sized, Sized],           // AttachmentIndex
        0x0C => &[Sized, StringMap],                                // Metadata
        0x0D => &[U64, U64, Sized],                                 // MetadataIndex
        _ => return None,
    })
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?) as usize)
}

/// The end of the u32-length-prefixed field at `at`, if it ends within `end`.
fn sized_end(bytes: &[u8], at: usize, end: usize) -> Option<usize> {
    let stop = at.checked_add(4)?.checked_add(u32_at(bytes, at)?)?;
    (stop <= end).then_some(stop)
}

/// Whether the record at the start of `bytes` (opcode, u64 length, body) lies inside
/// `bytes` and, for the kinds [`string_fields`] lists, holds every string it claims.
/// Returns the record's end.
fn record_fits(bytes: &[u8]) -> Option<usize> {
    let opcode = *bytes.first()?;
    let len = u64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
    let end = 9usize.checked_add(usize::try_from(len).ok()?)?;
    if end > bytes.len() {
        return None;
    }
    let Some(fields) = string_fields(opcode) else {
        return Some(end);
    };
    let mut at = 9;
    for field in fields {
        at = match field {
            Field::U16 => at + 2,
            Field::U64 => at + 8,
            Field::Sized => sized_end(bytes, at, end)?,
            Field::StringMap => {
                let map_end = sized_end(bytes, at, end)?;
                let mut entry = at + 4;
                while entry < map_end {
                    entry = sized_end(bytes, entry, map_end)?;
                    entry = sized_end(bytes, entry, map_end)?;
                }
                map_end
            }
        };
        if at > end {
            return None;
        }
    }
    Some(end)
}

/// Checks, before mcap parses them, the records it reads by reserving what their
/// strings claim: the header record and every record of the summary section.
fn check_record_strings(bytes: &[u8]) -> Result<(), &'static str> {
    let magic = mcap::MAGIC.len();
    record_fits(&bytes[magic..]).ok_or("the header record")?;
    // Footer: opcode, u64 length, summary_start, summary_offset_start, summary_crc.
    let footer = bytes
        .len()
        .checked_sub(magic + 1 + 8 + 8 + 8 + 4)
        .ok_or("the footer")?;
    let summary_start = u64::from_le_bytes(
        bytes[footer + 9..footer + 17]
            .try_into()
            .map_err(|_| "the footer")?,
    );
    if summary_start == 0 {
        return Ok(());
    }
    let mut at = usize::try_from(summary_start).map_err(|_| "the footer")?;
    if at > footer {
        return Err("the footer");
    }
    while at < footer {
        at += record_fits(&bytes[at..footer]).ok_or("a summary record")?;
    }
    Ok(())
}

/// The profile and library of the header record, the first record after the magic.
fn read_header(bytes: &[u8]) -> Result<(String, String), mcap::McapError> {
    let mut records = mcap::read::LinearReader::new(bytes)?;
    match records.next() {
        Some(Ok(mcap::records::Record::Header(header))) => Ok((header.profile, header.library)),
        Some(Err(e)) => Err(e),
        _ => Err(mcap::McapError::BadMagic),
    }
}
