//! Resources during a run: the node's resident memory and the hypervisor's CPU
//! steal, sampled off the plant's thread.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::judge::RunLog;
use crate::node_process::{cpu_steal_seconds, memory_kib};

/// What [`ResourceSampler`] saw: the node's resident memory `(t, KiB)` and the
/// machine's CPU steal `(t, s since boot)`.
#[derive(Default)]
pub(super) struct ResourceSamples {
    pub(super) rss_kib: Vec<(f64, u64)>,
    pub(super) cpu_steal: Vec<(f64, f64)>,
}

/// Samples the node's resident memory and the hypervisor's CPU steal every 500 ms
/// until finished.
pub(super) struct ResourceSampler {
    pub(super) running: Arc<AtomicBool>,
    pub(super) samples: Arc<Mutex<ResourceSamples>>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
}

impl ResourceSampler {
    pub(super) fn start(pid: Arc<AtomicU32>, t0: Instant) -> ResourceSampler {
        let running = Arc::new(AtomicBool::new(true));
        let samples = Arc::new(Mutex::new(ResourceSamples::default()));
        let (r, s) = (running.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            while r.load(Ordering::Relaxed) {
                let t = t0.elapsed().as_secs_f64();
                let rss = memory_kib(pid.load(Ordering::Relaxed));
                let steal = cpu_steal_seconds();
                let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((rss, _)) = rss {
                    s.rss_kib.push((t, rss));
                }
                if let Some(steal) = steal {
                    s.cpu_steal.push((t, steal));
                }
                drop(s);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        ResourceSampler {
            running,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops sampling and puts what was seen into `log`.
    pub(super) fn finish(mut self, log: &mut RunLog) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        log.rss_kib = samples.rss_kib;
        log.cpu_steal = samples.cpu_steal;
    }
}
