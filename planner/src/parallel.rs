//! Multi-threaded model evaluation: [`SplitModel`] runs each batched call of a
//! [`WorldModel`] on several replicas at once.
//!
//! The rows of every call are split into contiguous, nearly equal chunks, one per
//! replica: chunk 0 runs on the calling thread, the others on persistent worker threads
//! (spawned once, in [`SplitModel::new`]). Each worker owns one replica. Workers are
//! woken and waited for with atomics and `park`/`unpark`, so a call allocates nothing
//! and takes no lock. A worker that finishes a chunk spins for a short while
//! ([`WORKER_SPIN`]) before it parks: a planner's calls come back to back, and waking a
//! parked thread costs tens of microseconds on a virtual machine, as much as a small
//! model's whole chunk.
//!
//! Planners do not know about threads: they call the [`SplitModel`] like any model
//! with a larger `max_batch`. Because the rows and their order are unchanged, results
//! are bit-identical to a single replica whenever the model computes each row
//! independently of the others (true of row-wise MLPs; check your executor).

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::error::ConfigError;
use crate::model::{ModelDims, ModelError, WorldModel};

const IDLE: u32 = 0;
const WORK: u32 = 1;
const DONE: u32 = 2;
const EXIT: u32 = 3;

/// Spins before parking while waiting for a worker.
const SPINS: u32 = 2_000;

/// How long an idle worker polls for its next chunk before it parks. Long enough to
/// span the planner's own work between two calls of one plan, short enough that a
/// worker does not hold a core between control cycles.
pub const WORKER_SPIN: Duration = Duration::from_micros(200);

/// One chunk of a call, as raw parts of the caller's buffers.
#[derive(Clone, Copy)]
enum Job {
    None,
    Encode {
        obs: (*const f32, usize),
        z: (*mut f32, usize),
    },
    Step {
        z: (*const f32, usize),
        action: (*const f32, usize),
        z_next: (*mut f32, usize),
        reward: (*mut f32, usize),
    },
    Value {
        z: (*const f32, usize),
        value: (*mut f32, usize),
    },
    Policy {
        z: (*const f32, usize),
        mean: (*mut f32, usize),
        log_std: (*mut f32, usize),
    },
}

/// Shared state between the caller and one worker.
struct Slot {
    state: AtomicU32,
    job: UnsafeCell<Job>,
    result: UnsafeCell<Result<(), ModelError>>,
    caller: UnsafeCell<Option<Thread>>,
}

// SAFETY: `job`, `result` and `caller` are only accessed by the caller while `state` is
// IDLE or DONE, and by the worker while it is WORK; the transitions are Release/Acquire
// pairs, so each side sees the other's writes.
unsafe impl Sync for Slot {}
// SAFETY: the raw pointers in `job` are only dereferenced under the protocol above.
unsafe impl Send for Slot {}

/// Runs `job` on `model`.
///
/// SAFETY: the pointers must describe live, disjoint buffers for the duration of the
/// call (guaranteed by [`SplitModel`], which waits for every chunk before returning).
unsafe fn run<M: WorldModel>(model: &mut M, job: Job) -> Result<(), ModelError> {
    use std::slice::{from_raw_parts as r, from_raw_parts_mut as w};
    // SAFETY: see the function's contract.
    unsafe {
        match job {
            Job::None => Ok(()),
            Job::Encode { obs, z } => model.encode(r(obs.0, obs.1), w(z.0, z.1)),
            Job::Step {
                z,
                action,
                z_next,
                reward,
            } => model.step(
                r(z.0, z.1),
                r(action.0, action.1),
                w(z_next.0, z_next.1),
                w(reward.0, reward.1),
            ),
            Job::Value { z, value } => model.value(r(z.0, z.1), w(value.0, value.1)),
            Job::Policy { z, mean, log_std } => {
                model.policy(r(z.0, z.1), w(mean.0, mean.1), w(log_std.0, log_std.1))
            }
        }
    }
}

/// The worker thread's loop: wait for WORK, run it, report DONE; stop on EXIT. After
/// a chunk it polls for [`WORKER_SPIN`] before parking.
fn worker_loop<M: WorldModel>(mut model: M, slot: Arc<Slot>) {
    let mut spin_until: Option<Instant> = None;
    loop {
        match slot.state.load(Ordering::Acquire) {
            WORK => {
                // SAFETY: state is WORK, so the caller does not touch job/result/caller.
                let job = unsafe { *slot.job.get() };
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { run(&mut model, job) }))
                    .unwrap_or_else(|_| {
                        Err(ModelError::Inference {
                            graph: "split",
                            message: "model panicked in a worker thread".into(),
                        })
                    });
                // SAFETY: as above.
                let caller = unsafe {
                    *slot.result.get() = result;
                    (*slot.caller.get()).take()
                };
                slot.state.store(DONE, Ordering::Release);
                if let Some(caller) = caller {
                    caller.unpark();
                }
                spin_until = Some(Instant::now() + WORKER_SPIN);
            }
            EXIT => return,
            _ => match spin_until {
                // A few pauses per clock read keep the poll cheap and its latency under
                // a microsecond.
                Some(until) => {
                    for _ in 0..4 {
                        std::hint::spin_loop();
                    }
                    if Instant::now() >= until {
                        spin_until = None;
                    }
                }
                None => std::thread::park(),
            },
        }
    }
}

/// A worker thread and its slot.
struct Worker {
    slot: Arc<Slot>,
    thread: Option<JoinHandle<()>>,
}

/// A [`WorldModel`] that splits every call's rows over replicas on worker threads.
pub struct SplitModel<M: WorldModel + Send + 'static> {
    local: M,
    workers: Vec<Worker>,
    dims: ModelDims,
    replica_batch: usize,
    has_value: bool,
    has_policy: bool,
    min_rows_per_chunk: usize,
}

impl<M: WorldModel + Send + 'static> SplitModel<M> {
    /// Uses `replicas` (at least one; all with the same dimensions and graphs): the
    /// first runs on the calling thread, each other one on its own new worker thread.
    pub fn new(mut replicas: Vec<M>) -> Result<Self, ConfigError> {
        if replicas.is_empty() {
            return Err(ConfigError::Inconsistent(
                "SplitModel needs at least one replica",
            ));
        }
        let local = replicas.remove(0);
        let dims = local.dims();
        let (has_value, has_policy) = (local.has_value(), local.has_policy());
        let mut replica_batch = local.max_batch();
        for r in &replicas {
            if r.dims() != dims || r.has_value() != has_value || r.has_policy() != has_policy {
                return Err(ConfigError::Inconsistent(
                    "model replicas disagree on dimensions or graphs",
                ));
            }
            replica_batch = replica_batch.min(r.max_batch());
        }
        let mut workers = Vec::with_capacity(replicas.len());
        for (i, replica) in replicas.into_iter().enumerate() {
            let slot = Arc::new(Slot {
                state: AtomicU32::new(IDLE),
                job: UnsafeCell::new(Job::None),
                result: UnsafeCell::new(Ok(())),
                caller: UnsafeCell::new(None),
            });
            let worker_slot = Arc::clone(&slot);
            let thread = std::thread::Builder::new()
                .name(format!("augur-model-{}", i + 1))
                .spawn(move || worker_loop(replica, worker_slot))
                .map_err(|_| ConfigError::Inconsistent("could not spawn a model worker thread"))?;
            workers.push(Worker {
                slot,
                thread: Some(thread),
            });
        }
        Ok(Self {
            local,
            workers,
            dims,
            replica_batch,
            has_value,
            has_policy,
            min_rows_per_chunk: 8,
        })
    }

    /// Calls with fewer than `rows` rows per replica use fewer replicas (default 8):
    /// waking a thread costs more than a few rows of a small model.
    pub fn with_min_rows_per_chunk(mut self, rows: usize) -> Self {
        self.min_rows_per_chunk = rows.max(1);
        self
    }

    /// Number of replicas (threads) in use, the calling thread included.
    pub fn replicas(&self) -> usize {
        1 + self.workers.len()
    }

    /// Rows `[start, end)` of chunk `i` when `n` rows are split into `chunks`. O(1).
    fn chunk(n: usize, chunks: usize, i: usize) -> (usize, usize) {
        let (base, extra) = (n / chunks, n % chunks);
        let start = i * base + i.min(extra);
        (start, start + base + usize::from(i < extra))
    }

    /// Runs one call: `make(start, end)` builds the job for rows `[start, end)`.
    ///
    /// Allocation: none in steady state. Time: the slowest chunk, plus wake-up latency.
    fn split(&mut self, n: usize, make: impl Fn(usize, usize) -> Job) -> Result<(), ModelError> {
        let chunks = self
            .replicas()
            .min(n.div_ceil(self.min_rows_per_chunk))
            .max(1);
        let caller = (chunks > 1).then(std::thread::current);
        for i in 1..chunks {
            let (start, end) = Self::chunk(n, chunks, i);
            let slot = &self.workers[i - 1].slot;
            // SAFETY: the worker is IDLE, so it does not read these until WORK is seen.
            unsafe {
                *slot.job.get() = make(start, end);
                *slot.caller.get() = caller.clone();
            }
            slot.state.store(WORK, Ordering::Release);
            if let Some(t) = &self.workers[i - 1].thread {
                t.thread().unpark();
            }
        }
        let (start, end) = Self::chunk(n, chunks, 0);
        let job = make(start, end);
        let local = &mut self.local;
        // SAFETY: the job's buffers are the caller's, alive for this whole call.
        let local_result = catch_unwind(AssertUnwindSafe(|| unsafe { run(local, job) }));
        let mut result = Ok(());
        for i in 1..chunks {
            let slot = &self.workers[i - 1].slot;
            let mut spins = 0;
            while slot.state.load(Ordering::Acquire) != DONE {
                if spins < SPINS {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::park();
                }
            }
            // SAFETY: state is DONE, so the worker no longer touches the slot.
            let chunk_result = unsafe { std::mem::replace(&mut *slot.result.get(), Ok(())) };
            slot.state.store(IDLE, Ordering::Relaxed);
            if result.is_ok() {
                result = chunk_result;
            }
        }
        match local_result {
            Ok(Ok(())) => result,
            Ok(Err(e)) => Err(e),
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl<M: WorldModel + Send + 'static> Drop for SplitModel<M> {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.slot.state.store(EXIT, Ordering::Release);
            if let Some(t) = w.thread.take() {
                t.thread().unpark();
                // A worker that panicked outside a model call has nothing left to report.
                let _ = t.join();
            }
        }
    }
}

impl<M: WorldModel + Send + 'static> WorldModel for SplitModel<M> {
    fn dims(&self) -> ModelDims {
        self.dims
    }

    fn max_batch(&self) -> usize {
        self.replica_batch * self.replicas()
    }

    fn has_value(&self) -> bool {
        self.has_value
    }

    fn has_policy(&self) -> bool {
        self.has_policy
    }

    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        let n = crate::model::rows("encode", "z", z.len(), self.dims.latent_dim)?;
        let o = obs.len() / n.max(1);
        let l = self.dims.latent_dim;
        let (obs, z) = ((obs.as_ptr(), obs.len()), (z.as_mut_ptr(), z.len()));
        self.split(n, |s, e| Job::Encode {
            // SAFETY (for all jobs below): the offsets stay within the slices' lengths,
            // and chunks are disjoint, so the sub-slices never alias.
            obs: (unsafe { obs.0.add(s * o) }, (e - s) * o),
            z: (unsafe { z.0.add(s * l) }, (e - s) * l),
        })
    }

    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        let n = reward.len();
        let (l, a) = (self.dims.latent_dim, self.dims.action_dim);
        if z.len() != n * l || action.len() != n * a || z_next.len() != n * l {
            return Err(ModelError::BadBuffer {
                graph: "step",
                tensor: "z/action/z_next",
                len: z.len(),
                expected: n * l,
            });
        }
        let (zp, ap) = (z.as_ptr(), action.as_ptr());
        let (znp, rp) = (z_next.as_mut_ptr(), reward.as_mut_ptr());
        self.split(n, |s, e| Job::Step {
            z: (unsafe { zp.add(s * l) }, (e - s) * l),
            action: (unsafe { ap.add(s * a) }, (e - s) * a),
            z_next: (unsafe { znp.add(s * l) }, (e - s) * l),
            reward: (unsafe { rp.add(s) }, e - s),
        })
    }

    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        let n = value.len();
        let l = self.dims.latent_dim;
        if z.len() != n * l {
            return Err(ModelError::BadBuffer {
                graph: "value",
                tensor: "z",
                len: z.len(),
                expected: n * l,
            });
        }
        let (zp, vp) = (z.as_ptr(), value.as_mut_ptr());
        self.split(n, |s, e| Job::Value {
            z: (unsafe { zp.add(s * l) }, (e - s) * l),
            value: (unsafe { vp.add(s) }, e - s),
        })
    }

    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        let (l, a) = (self.dims.latent_dim, self.dims.action_dim);
        let n = crate::model::rows("policy", "z", z.len(), l)?;
        if mean.len() != n * a || log_std.len() != n * a {
            return Err(ModelError::BadBuffer {
                graph: "policy",
                tensor: "mean/log_std",
                len: mean.len(),
                expected: n * a,
            });
        }
        let (zp, mp, sp) = (z.as_ptr(), mean.as_mut_ptr(), log_std.as_mut_ptr());
        self.split(n, |s, e| Job::Policy {
            z: (unsafe { zp.add(s * l) }, (e - s) * l),
            mean: (unsafe { mp.add(s * a) }, (e - s) * a),
            log_std: (unsafe { sp.add(s * a) }, (e - s) * a),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_rows_contiguously_and_evenly() {
        for n in 0..40 {
            for chunks in 1..5 {
                let mut next = 0;
                for i in 0..chunks {
                    let (s, e) = SplitModel::<crate::testing::LinearQuadratic>::chunk(n, chunks, i);
                    assert_eq!(s, next);
                    assert!(e - s == n / chunks || e - s == n / chunks + 1);
                    next = e;
                }
                assert_eq!(next, n);
            }
        }
    }
}
