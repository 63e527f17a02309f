//! [`RecorderThread`]: a [`Recorder`] on its own thread, fed by the control loop
//! through a bounded queue that never blocks the caller.
//!
//! Payload buffers come from a fixed pool of `capacity` reusable `Vec<u8>`s: the
//! caller copies (or encodes) into a pooled buffer, the recorder thread writes it and
//! hands it back. The pool is the queue's bound: when every buffer is queued or being
//! written, the message is dropped and counted. Once each buffer has grown to the
//! largest payload it carries, queueing a message allocates nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::writer::{ChannelId, RecordSummary, Recorder};
use super::RecordError;

/// Bytes reserved in each pooled buffer up front: a small ROS message fits without
/// the buffer growing.
const PREALLOCATED_PAYLOAD_BYTES: usize = 1024;

/// Name of the metadata record the recorder thread writes at the end of the file.
pub const RECORDER_METADATA_NAME: &str = "augur_recorder";
/// Key, in that record, of the count of dropped messages.
pub const DROPPED_MESSAGES_KEY: &str = "dropped_messages";

struct QueuedMessage {
    channel: ChannelId,
    log_time: u64,
    publish_time: u64,
    payload: Vec<u8>,
}

/// Starts recorder threads.
pub struct RecorderThread;

impl RecorderThread {
    /// Moves `recorder` (with its channels already added) onto a thread named
    /// `augur-recorder`, with a queue and buffer pool of `capacity` messages
    /// (at least 1).
    pub fn spawn(recorder: Recorder, capacity: usize) -> Result<RecorderHandle, RecordError> {
        Self::spawn_gated(recorder, capacity, None)
    }

    /// [`Self::spawn`], with a thread that waits for `gate` to close before it starts
    /// draining the queue (tests fill the queue deterministically this way).
    fn spawn_gated(
        recorder: Recorder,
        capacity: usize,
        gate: Option<Receiver<()>>,
    ) -> Result<RecorderHandle, RecordError> {
        let capacity = capacity.max(1);
        let path = recorder.path().to_owned();
        let (queue, queued) = crossbeam_channel::bounded::<QueuedMessage>(capacity);
        let (recycle, free) = crossbeam_channel::bounded::<Vec<u8>>(capacity);
        for _ in 0..capacity {
            // The pool channel has room for exactly `capacity` buffers.
            let _ = recycle.try_send(Vec::with_capacity(PREALLOCATED_PAYLOAD_BYTES));
        }
        let dropped = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("augur-recorder".to_owned())
            .spawn({
                let recycle = recycle.clone();
                let dropped = Arc::clone(&dropped);
                move || {
                    if let Some(gate) = gate {
                        // Returns once every sender is gone.
                        let _ = gate.recv();
                    }
                    record_until_closed(recorder, queued, recycle, dropped)
                }
            })
            .map_err(|source| RecordError::Spawn {
                path: path.clone(),
                source,
            })?;
        Ok(RecorderHandle {
            path,
            queue,
            free,
            recycle,
            dropped,
            thread,
        })
    }
}

/// The control loop's side of a [`RecorderThread`]. Its methods never block.
pub struct RecorderHandle {
    path: PathBuf,
    queue: Sender<QueuedMessage>,
    free: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    thread: JoinHandle<Result<RecordSummary, RecordError>>,
}

impl RecorderHandle {
    /// Queues a copy of `cdr` (CDR with its encapsulation header) for `channel`.
    /// Returns false, and counts the message as dropped, if the queue is full or the
    /// recorder thread has stopped.
    ///
    /// Allocation: none once the pooled buffer has room for `cdr`. Time: one copy and
    /// two non-blocking channel operations.
    pub fn write(&self, channel: ChannelId, log_time: u64, publish_time: u64, cdr: &[u8]) -> bool {
        self.write_with(channel, log_time, publish_time, |buf| {
            buf.extend_from_slice(cdr)
        })
    }

    /// Queues a message that `encode` writes straight into an empty pooled buffer
    /// (CDR encapsulation header included). `encode` is not called if the message is
    /// dropped. Returns false, and counts the message as dropped, if the queue is
    /// full or the recorder thread has stopped.
    ///
    /// Allocation: none if `encode` stays within the buffer's capacity. Time: `encode`
    /// plus two non-blocking channel operations.
    pub fn write_with(
        &self,
        channel: ChannelId,
        log_time: u64,
        publish_time: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> bool {
        let Ok(mut payload) = self.free.try_recv() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        payload.clear();
        encode(&mut payload);
        let message = QueuedMessage {
            channel,
            log_time,
            publish_time,
            payload,
        };
        match self.queue.try_send(message) {
            Ok(()) => true,
            Err(TrySendError::Full(message) | TrySendError::Disconnected(message)) => {
                // Back to the pool; the slot it left is still free.
                let _ = self.recycle.try_send(message.payload);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The file being written.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Closes the queue, waits for the recorder thread to write what was queued, the
    /// `augur_recorder` metadata record (the dropped count) and the summary, and
    /// returns the summary with [`RecordSummary::dropped`] set. The first write error
    /// of the recorder thread, if any, is returned here.
    pub fn finish(self) -> Result<RecordSummary, RecordError> {
        let RecorderHandle {
            path,
            queue,
            thread,
            ..
        } = self;
        drop(queue);
        thread
            .join()
            .map_err(|_| RecordError::RecorderThreadPanicked { path })?
    }
}

/// The recorder thread: writes each queued message and returns its buffer to the pool
/// until the handle closes the queue, then finishes the file. It stops at the first
/// error; the handle then counts every further message as dropped.
fn record_until_closed(
    mut recorder: Recorder,
    queued: Receiver<QueuedMessage>,
    recycle: Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
) -> Result<RecordSummary, RecordError> {
    for message in queued.iter() {
        let written = recorder.write(
            message.channel,
            message.log_time,
            message.publish_time,
            &message.payload,
        );
        let _ = recycle.try_send(message.payload);
        written?;
    }
    let dropped = dropped.load(Ordering::Relaxed);
    recorder.write_metadata(
        RECORDER_METADATA_NAME,
        BTreeMap::from([(DROPPED_MESSAGES_KEY.to_owned(), dropped.to_string())]),
    )?;
    let mut summary = recorder.finish()?;
    summary.dropped = dropped;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ChannelQos, RecorderOptions, Recording, PLAN_STATS_SCHEMA};

    #[test]
    fn a_full_queue_drops_and_counts_then_everything_queued_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.mcap");
        let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
        let ch = recorder
            .add_channel(
                "/augur/plan_stats",
                &PLAN_STATS_SCHEMA,
                &ChannelQos::reliable(10),
            )
            .unwrap();
        let (open_gate, gate) = crossbeam_channel::bounded::<()>(0);
        let handle = RecorderThread::spawn_gated(recorder, 3, Some(gate)).unwrap();
        // The recorder thread is held at the gate: three messages fill the queue,
        // the next five are dropped at once.
        let accepted: Vec<bool> = (0..8u8)
            .map(|i| handle.write(ch, u64::from(i), u64::from(i), &[0, 1, 0, 0, i]))
            .collect();
        assert_eq!(
            accepted,
            [true, true, true, false, false, false, false, false]
        );
        assert_eq!(handle.dropped(), 5);
        drop(open_gate);
        let summary = handle.finish().unwrap();
        assert_eq!(summary.dropped, 5);
        assert_eq!(summary.message_count, 3);

        let recording = Recording::open(&path).unwrap();
        let payloads: Vec<Vec<u8>> = recording.messages().map(|m| m.unwrap().data).collect();
        assert_eq!(
            payloads,
            [[0, 1, 0, 0, 0], [0, 1, 0, 0, 1], [0, 1, 0, 0, 2]]
        );
        let meta = recording.metadata(RECORDER_METADATA_NAME).unwrap();
        assert_eq!(meta[0][DROPPED_MESSAGES_KEY], "5");
    }

    #[test]
    fn pooled_buffers_are_reused_once_grown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reuse.mcap");
        let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
        let ch = recorder
            .add_channel(
                "/augur/plan_stats",
                &PLAN_STATS_SCHEMA,
                &ChannelQos::reliable(10),
            )
            .unwrap();
        let handle = RecorderThread::spawn(recorder, 2).unwrap();
        // Every buffer the encoder sees already has room for a small payload.
        let mut capacities = Vec::new();
        for i in 0..50u64 {
            handle.write_with(ch, i, i, |buf| {
                capacities.push(buf.capacity());
                buf.extend_from_slice(&[0, 1, 0, 0]);
            });
        }
        assert!(capacities.iter().all(|&c| c >= PREALLOCATED_PAYLOAD_BYTES));
        handle.finish().unwrap();
    }
}
