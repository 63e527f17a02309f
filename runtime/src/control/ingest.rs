//! The hand-off from sensor-ingest threads to the control thread: one bounded,
//! latest-wins queue per source and a doorbell, so a flooding topic can neither grow
//! memory nor push another topic's samples out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use super::observation::{Sample, MAX_SOURCES};

/// Samples kept per source when the control thread falls behind; older ones are
/// overwritten.
pub const QUEUE_DEPTH: usize = 4;

/// Counters of the ingest side, shared with diagnostics.
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Samples handed to the control thread.
    pub accepted: AtomicU64,
    /// Samples overwritten by a newer one before the control thread took them.
    pub overwritten: AtomicU64,
    /// Messages dropped as malformed (undecodable, unknown joint, wrong length).
    pub malformed: AtomicU64,
}

/// Snapshot of [`IngestCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Samples handed to the control thread.
    pub accepted: u64,
    /// Samples overwritten before use.
    pub overwritten: u64,
    /// Messages dropped as malformed.
    pub malformed: u64,
}

impl IngestCounters {
    /// Current values.
    pub fn snapshot(&self) -> IngestStats {
        IngestStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            overwritten: self.overwritten.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
        }
    }
}

/// The ingest side of one source's queue. Cloneable; `push` never blocks.
#[derive(Clone, Debug)]
pub struct SampleSender {
    tx: Sender<Sample>,
    // The sender pops the oldest sample itself when the queue is full (latest wins).
    oldest: Receiver<Sample>,
    doorbell: Sender<()>,
    counters: Arc<IngestCounters>,
}

impl SampleSender {
    /// Queues `sample`, overwriting the oldest queued one if the queue is full.
    pub fn push(&self, sample: Sample) {
        let mut sample = sample;
        loop {
            match self.tx.try_send(sample) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    if self.oldest.try_recv().is_ok() {
                        self.counters.overwritten.fetch_add(1, Ordering::Relaxed);
                    }
                    sample = back;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        // A full doorbell already says "something is waiting".
        let _ = self.doorbell.try_send(());
    }

    /// Counts a message dropped as malformed.
    pub fn malformed(&self) {
        self.counters.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.counters
    }
}

/// The control side: every source's queue and the doorbell.
#[derive(Debug)]
pub struct SampleReceiver {
    queues: Vec<Receiver<Sample>>,
    doorbell: Receiver<()>,
    counters: Arc<IngestCounters>,
}

/// Builds the queues for `sources` sources (at most [`MAX_SOURCES`]).
pub fn sample_queues(sources: usize) -> (Vec<SampleSender>, SampleReceiver) {
    assert!(sources <= MAX_SOURCES, "at most {MAX_SOURCES} sources");
    let counters = Arc::new(IngestCounters::default());
    let (bell_tx, bell_rx) = bounded(1);
    let mut senders = Vec::with_capacity(sources);
    let mut queues = Vec::with_capacity(sources);
    for _ in 0..sources {
        let (tx, rx) = bounded(QUEUE_DEPTH);
        senders.push(SampleSender {
            tx,
            oldest: rx.clone(),
            doorbell: bell_tx.clone(),
            counters: counters.clone(),
        });
        queues.push(rx);
    }
    (
        senders,
        SampleReceiver {
            queues,
            doorbell: bell_rx,
            counters,
        },
    )
}

impl SampleReceiver {
    /// Hands every queued sample to `take`, oldest first per source. Returns how many.
    pub fn drain(&self, mut take: impl FnMut(&Sample)) -> usize {
        let mut n = 0;
        for queue in &self.queues {
            while let Ok(sample) = queue.try_recv() {
                take(&sample);
                n += 1;
            }
        }
        n
    }

    /// Waits until a sample may be waiting or `deadline` passes. Returns false on
    /// timeout.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.doorbell.recv_timeout(timeout) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            // Every sender is gone: nothing will ever arrive; don't spin.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout.min(Duration::from_millis(10)));
                false
            }
        }
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.counters
    }
}
