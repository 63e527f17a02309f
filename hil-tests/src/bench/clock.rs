//! `/clock` on the bench: simulated time published at 200 Hz, with the clock-jump
//! fault.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use augur_bridge_ros2::msg::{Clock, Time};
use augur_bridge_ros2::transport::{TopicQos, Transport};

/// `/clock` as a simulator publishes it, at 200 Hz: simulated time runs at the wall
/// clock's rate from 1000 s, plus the jumps the scenario injects.
pub(super) struct BenchClock {
    pub(super) origin: Instant,
    pub(super) offset_ns: Arc<AtomicI64>,
    pub(super) running: Arc<AtomicBool>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
}

/// Simulated time at the start of a run.
pub(super) const CLOCK_ORIGIN_NS: i64 = 1_000_000_000_000;

impl BenchClock {
    pub(super) fn start(transport: &Transport, topic: &str) -> anyhow::Result<BenchClock> {
        let publisher = transport.publisher::<Clock>(topic, &TopicQos::CLOCK)?;
        let origin = Instant::now();
        let offset_ns = Arc::new(AtomicI64::new(CLOCK_ORIGIN_NS));
        let running = Arc::new(AtomicBool::new(true));
        let (offset, r) = (offset_ns.clone(), running.clone());
        let thread = std::thread::Builder::new()
            .name("hil-clock".into())
            .spawn(move || {
                let period = Duration::from_millis(5);
                let mut next = Instant::now();
                while r.load(Ordering::Relaxed) {
                    let clock = sim_time(origin, offset.load(Ordering::Relaxed));
                    // A lost /clock sample is harmless: the next one follows in 5 ms.
                    let _ = publisher.publish(&Clock { clock });
                    next += period;
                    augur_runtime::control::runner::sleep_until(next);
                }
            })
            .context("spawning the /clock thread")?;
        Ok(BenchClock {
            origin,
            offset_ns,
            running,
            thread: Some(thread),
        })
    }

    pub(super) fn now(&self) -> Time {
        sim_time(self.origin, self.offset_ns.load(Ordering::Relaxed))
    }

    /// Moves simulated time by `seconds` (negative: back).
    pub(super) fn jump(&self, seconds: f64) {
        self.offset_ns
            .fetch_add((seconds * 1e9) as i64, Ordering::Relaxed);
    }
}

pub(super) fn sim_time(origin: Instant, offset_ns: i64) -> Time {
    Time::from_nanos((origin.elapsed().as_nanos() as i64 + offset_ns).max(1))
}

impl Drop for BenchClock {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
