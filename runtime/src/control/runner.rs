//! The real-time control thread: triggers cycles (fixed rate or one per observation),
//! keeps time, decides the timing faults, and hands every cycle's output to a sink
//! (the transport's publisher thread) without blocking or allocating.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use augur_planner::{Budget, PlanStats, Planner, WorldModel};

use super::cycle::{ControlLoop, CycleInput, CycleOutput, MAX_DELAY_STEPS};
use super::image::ImageFeed;
use super::ingest::{IngestStats, SampleReceiver};
use super::observation::{Assembler, ObservationMap, MAX_FEATURES};
use super::safety::{Fault, FaultSet};

/// What starts a cycle: the one trigger type of `--trigger`, the `trigger` node
/// parameter and bench scenario files (`rate` / `observation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Every `period`, on a fixed schedule.
    #[default]
    Rate,
    /// Once per new sample from the trigger source ([`RunnerConfig::trigger_source`];
    /// lock-step benches); while that source is silent for longer than
    /// `sensor_timeout`, every `period` (so the safe action keeps being commanded).
    Observation,
}

impl Trigger {
    /// The name users write.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Rate => "rate",
            Trigger::Observation => "observation",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;

    fn from_str(text: &str) -> Result<Trigger, String> {
        match text {
            "rate" => Ok(Trigger::Rate),
            "observation" => Ok(Trigger::Observation),
            other => Err(format!("`{other}`: expected `rate` or `observation`")),
        }
    }
}

/// Timing and safety limits of the loop.
#[derive(Clone, Debug, PartialEq)]
pub struct RunnerConfig {
    /// What starts a cycle.
    pub trigger: Trigger,
    /// Index of the source whose samples start cycles under [`Trigger::Observation`].
    pub trigger_source: usize,
    /// Control period.
    pub period: Duration,
    /// Time kept free at the end of each period for encode and publish: the planner's
    /// deadline is `cycle start + period - plan_margin`.
    pub plan_margin: Duration,
    /// Optional cap on model transitions per plan (deterministic search amount).
    pub max_transitions: Option<u64>,
    /// Observations older than this command the safe action.
    pub sensor_timeout: Duration,
    /// This many consecutive overrun cycles command the safe action (until as many
    /// consecutive on-time cycles).
    pub max_deadline_misses: u32,
    /// Rate trigger on simulated time (`use_sim_time`): cycles follow
    /// [`Shared::sim_time_ns`] (the latest `/clock`) instead of the wall clock.
    pub sim_time: bool,
    /// Delay compensation: the plant's sample period (the model's `dt`). A plant that
    /// samples every `dt` applies the latest command it has at each sample; when the
    /// observation's age plus the expected cycle time reaches past the next sample,
    /// the plant will have moved on under the previous command, so the cycle plans
    /// from the state predicted that many steps ahead. `None`: plan on the
    /// observation as it is (lock-step plants, which wait for the command).
    pub delay_compensation: Option<Duration>,
}

/// Time allowed for publishing a command and its transport to the plant, added to the
/// expected cycle time when counting the plant's samples before it arrives.
pub const PUBLISH_ALLOWANCE: Duration = Duration::from_millis(1);

/// Planned cycles whose times make the expected cycle time (their median).
const RECENT_CYCLES: usize = 15;

/// Delay compensation's bookkeeping: how long cycles take, how many plant samples a
/// command will miss, and by when it must be ready to make the sample it is planned
/// for.
///
/// The step count uses the median of recent cycle times, so one slow cycle does not
/// flip the next decisions; and the cycle's planning deadline is cut to the moment the
/// command must leave to reach the plant before the sample after those steps, so a
/// cycle that runs long plans less instead of missing the sample it was planned for.
#[derive(Clone, Copy, Debug)]
pub struct DelayCompensator {
    step: Duration,
    recent: [Duration; RECENT_CYCLES],
    len: usize,
    next: usize,
}

impl DelayCompensator {
    /// For a plant sampling every `step` (the model's `dt`).
    pub fn new(step: Duration) -> DelayCompensator {
        DelayCompensator {
            step,
            recent: [Duration::ZERO; RECENT_CYCLES],
            len: 0,
            next: 0,
        }
    }

    /// Records a planned cycle's time, start to command ready.
    pub fn record(&mut self, cycle_time: Duration) {
        self.recent[self.next] = cycle_time;
        self.next = (self.next + 1) % RECENT_CYCLES;
        self.len = (self.len + 1).min(RECENT_CYCLES);
    }

    /// The median of the recent planned cycles' times (zero before the first).
    pub fn expected_cycle(&self) -> Duration {
        if self.len == 0 {
            return Duration::ZERO;
        }
        let mut sorted = self.recent;
        let sorted = &mut sorted[..self.len];
        sorted.sort_unstable();
        sorted[self.len / 2]
    }

    /// For a cycle starting at `started` on an observation `age` old: the plant
    /// samples the command will miss, and when it must be ready to make the next one
    /// (`None` at [`MAX_DELAY_STEPS`]: the observation is too old to aim).
    pub fn plan(&self, started: Instant, age: Duration) -> (u8, Option<Instant>) {
        if self.step.is_zero() {
            return (0, None);
        }
        let until_arrival = age + self.expected_cycle() + PUBLISH_ALLOWANCE;
        let steps = until_arrival.as_nanos() / self.step.as_nanos();
        if steps >= MAX_DELAY_STEPS as u128 {
            return (MAX_DELAY_STEPS, None);
        }
        let target = self.step * (steps as u32 + 1);
        let ready_by = (started + target)
            .checked_sub(age + PUBLISH_ALLOWANCE)
            .unwrap_or(started);
        (steps as u8, Some(ready_by))
    }
}

/// Timing of one cycle, beside its output.
#[derive(Clone, Copy, Debug)]
pub struct CycleTiming {
    /// When the cycle started.
    pub started: Instant,
    /// When the sample that triggered it was received (observation trigger).
    pub trigger_received: Option<Instant>,
    /// When its output was ready.
    pub finished: Instant,
    /// When its period ends (the hard deadline).
    pub period_end: Instant,
    /// Whether it finished after `period_end`.
    pub deadline_missed: bool,
    /// How late it started against its schedule (rate trigger).
    pub start_lateness: Duration,
}

impl CycleTiming {
    /// A cycle that started, finished and ended its period at `now`, on time and with
    /// no trigger sample: the timing of a cycle driven outside the runner (tests,
    /// offline tools).
    pub fn instant(now: Instant) -> CycleTiming {
        CycleTiming {
            started: now,
            trigger_received: None,
            finished: now,
            period_end: now,
            deadline_missed: false,
            start_lateness: Duration::ZERO,
        }
    }
}

/// Receives every cycle's output on the control thread. Must not block or allocate:
/// hand the output to another thread through a bounded queue.
pub trait CycleSink {
    /// Called once per cycle, right after the command was decided.
    fn publish(&mut self, output: &CycleOutput, timing: &CycleTiming);

    /// An image model's view of the cycle about to be published, when it had an image:
    /// its encoder input (frames stacked, normalised) and the chosen plan's latents
    /// ([`ControlLoop::plan_latents`]). Called before [`CycleSink::publish`] of the
    /// same cycle. The default ignores it.
    fn publish_view(&mut self, _output: &CycleOutput, _image: &[f32], _plan_latents: &[f32]) {}
}

/// Counters and latest state of the loop, for `/diagnostics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Diagnostics {
    /// Cycles run.
    pub cycles: u64,
    /// Cycles that commanded the safe action.
    pub safe_cycles: u64,
    /// Cycles that overran their period.
    pub deadline_misses: u64,
    /// Current run of consecutive overruns.
    pub consecutive_misses: u32,
    /// Last cycle's time from start to output.
    pub last_cycle_time: Duration,
    /// Largest cycle time so far.
    pub max_cycle_time: Duration,
    /// Sum of cycle times (mean = sum / cycles).
    pub total_cycle_time: Duration,
    /// Active faults.
    pub faults: FaultSet,
    /// How often each fault was raised (indexed like `Fault::ALL`).
    pub raised: [u64; Fault::ALL.len()],
    /// Ingest counters.
    pub ingest: IngestStats,
    /// Simulated-time jumps: `/clock` going backwards, or forwards by more than two
    /// periods past the next cycle (the schedule restarts at the new time).
    pub clock_jumps: u64,
    /// Age of the oldest source at the last cycle.
    pub observation_age: Option<Duration>,
    /// Last prediction error.
    pub prediction_error: Option<f32>,
    /// Exponential moving average (0.05) of the prediction error.
    pub prediction_error_ema: Option<f32>,
    /// Last plan's statistics.
    pub plan: PlanStats,
}

/// State shared between the control thread and the rest of the node.
#[derive(Debug, Default)]
pub struct Shared {
    /// Latest diagnostics (the control thread only `try_lock`s it).
    pub diagnostics: Mutex<Diagnostics>,
    /// Set to stop the loop.
    pub stop: AtomicBool,
    /// Set to start a new episode before the next cycle (sim benches).
    pub reset: AtomicBool,
    /// Simulated time in nanoseconds (the latest `/clock`); 0 until the first one.
    pub sim_time_ns: AtomicU64,
}

/// Runs the loop on the calling thread until `shared.stop` is set.
pub fn run<M: WorldModel, P: Planner, S: CycleSink>(
    control: &mut ControlLoop<M, P>,
    map: &ObservationMap,
    samples: &SampleReceiver,
    mut images: Option<&mut ImageFeed>,
    sink: &mut S,
    config: &RunnerConfig,
    shared: &Shared,
) {
    let mut assembler = Assembler::new(map);
    let mut observation = [0.0f32; MAX_FEATURES];
    let obs_dim = map.features().len();
    let mut diagnostics = Diagnostics::default();
    let mut misses_in_a_row = 0u32;
    let mut on_time_in_a_row = 0u32;
    let mut deadline_fault = false;
    let mut next = Instant::now();
    let mut last_trigger = Instant::now();
    let mut sim = SimSchedule::new(config.period);
    let mut compensator = config.delay_compensation.map(DelayCompensator::new);

    // A reset (new episode) applies after a wait and before the samples that ended it:
    // lock-step benches send the new episode's first state right after asking.
    macro_rules! apply_reset {
        () => {
            if shared.reset.swap(false, Ordering::Relaxed) {
                assembler.clear();
                if let Some(images) = images.as_mut() {
                    images.clear();
                }
                control.reset();
                misses_in_a_row = 0;
                on_time_in_a_row = 0;
                deadline_fault = false;
                next = Instant::now();
            }
        };
    }

    while !shared.stop.load(Ordering::Relaxed) {
        // Wait for the cycle's trigger.
        let mut trigger_received = None;
        let mut fresh = false;
        let scheduled = match config.trigger {
            Trigger::Rate if config.sim_time => {
                // Simulated time: no /clock, no cycle (as ROS timers on sim time).
                loop {
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match sim.poll(shared.sim_time_ns.load(Ordering::Relaxed)) {
                        SimPoll::Wait => std::thread::sleep(SIM_POLL),
                        SimPoll::Run { jumped } => {
                            diagnostics.clock_jumps += jumped as u64;
                            break;
                        }
                    }
                }
                apply_reset!();
                Instant::now()
            }
            Trigger::Rate => {
                sleep_until(next);
                apply_reset!();
                next
            }
            Trigger::Observation => {
                let source = config.trigger_source;
                let timeout_at = last_trigger + config.sensor_timeout.max(config.period);
                loop {
                    samples.wait_until(timeout_at.min(next_poll()));
                    apply_reset!();
                    let mut hit = None;
                    samples.drain(|sample| {
                        assembler.update(sample);
                        fresh = true;
                        if sample.source == source {
                            hit = Some(sample.received);
                        }
                    });
                    if hit.is_some() {
                        trigger_received = hit;
                        break;
                    }
                    if shared.stop.load(Ordering::Relaxed) || Instant::now() >= timeout_at {
                        break;
                    }
                }
                let now = Instant::now();
                last_trigger = match trigger_received {
                    Some(_) => now,
                    // Silent trigger source: keep cycling at the period.
                    None => now - config.sensor_timeout.max(config.period) + config.period,
                };
                trigger_received.unwrap_or(now)
            }
        };
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        samples.drain(|sample| {
            assembler.update(sample);
            fresh = true;
        });
        let period_end = scheduled + config.period;
        let deadline = period_end
            .checked_sub(config.plan_margin)
            .unwrap_or(started)
            .max(started);

        // Timing faults.
        let age = assembler.age(started);
        let mut timing = FaultSet::EMPTY;
        // Complete once every feature has a value and every source has been heard
        // from (a camera-only model has no features: until its first frame there is
        // no observation, not a stale one).
        let complete = assembler.is_complete() && age.is_some();
        let stale = age.is_none_or(|age| age > config.sensor_timeout);
        if !complete {
            timing = timing.with(Fault::NoObservation);
        } else if stale {
            timing = timing.with(Fault::StaleObservation);
        }
        if deadline_fault {
            timing = timing.with(Fault::DeadlineMisses);
        }
        if let Some(images) = images.as_mut() {
            // A gap longer than the timeout starts the stack afresh: frames from before
            // it say nothing about the motion now.
            if stale {
                images.clear();
            }
            images.update();
        }
        let image = images.as_ref().and_then(|i| i.input());
        let usable = complete && !stale && (images.is_none() || image.is_some());
        if usable {
            assembler.write(&mut observation[..obs_dim]);
        }
        let (delay, ready_by) = match (&compensator, age) {
            (Some(compensator), Some(age)) if usable => compensator.plan(started, age),
            _ => (0, None),
        };
        let deadline = ready_by.map_or(deadline, |ready_by| deadline.min(ready_by));
        let mut budget = Budget::until(deadline);
        if let Some(max) = config.max_transitions {
            budget = budget.with_max_transitions(max);
        }
        let output = *control.cycle(&CycleInput {
            observation: usable.then_some(&observation[..obs_dim]),
            image: if usable { image } else { None },
            fresh,
            timing_faults: timing,
            budget,
            delay_steps: delay,
        });
        let finished = Instant::now();
        let missed = finished > period_end;
        if missed {
            misses_in_a_row += 1;
            on_time_in_a_row = 0;
        } else {
            on_time_in_a_row += 1;
            misses_in_a_row = 0;
        }
        if misses_in_a_row >= config.max_deadline_misses {
            deadline_fault = true;
        } else if on_time_in_a_row >= config.max_deadline_misses {
            deadline_fault = false;
        }
        let timing = CycleTiming {
            started,
            trigger_received,
            finished,
            period_end,
            deadline_missed: missed,
            start_lateness: started.saturating_duration_since(scheduled),
        };
        // The view first: the publisher thread looks it up when the output arrives.
        if let Some(image) = images.as_ref().and_then(|i| i.input()).filter(|_| usable) {
            sink.publish_view(&output, image, control.plan_latents());
        }
        sink.publish(&output, &timing);

        // Diagnostics.
        let cycle_time = finished - started;
        if let Some(compensator) = compensator.as_mut().filter(|_| output.planned) {
            compensator.record(cycle_time);
        }
        diagnostics.cycles += 1;
        diagnostics.safe_cycles = control.watchdog().safe_cycles();
        diagnostics.deadline_misses += missed as u64;
        diagnostics.consecutive_misses = misses_in_a_row;
        diagnostics.last_cycle_time = cycle_time;
        diagnostics.max_cycle_time = diagnostics.max_cycle_time.max(cycle_time);
        diagnostics.total_cycle_time += cycle_time;
        diagnostics.faults = output.faults;
        for (i, fault) in Fault::ALL.into_iter().enumerate() {
            diagnostics.raised[i] = control.watchdog().raised(fault);
        }
        diagnostics.ingest = samples.counters().snapshot();
        diagnostics.observation_age = age;
        if let Some(error) = output.prediction_error {
            diagnostics.prediction_error = Some(error);
            diagnostics.prediction_error_ema = Some(match diagnostics.prediction_error_ema {
                Some(ema) => 0.95 * ema + 0.05 * error,
                None => error,
            });
        }
        if output.planned {
            diagnostics.plan = output.plan;
        }
        if let Ok(mut shared) = shared.diagnostics.try_lock() {
            *shared = diagnostics;
        }

        if config.trigger == Trigger::Rate && !config.sim_time {
            next += config.period;
            let now = Instant::now();
            if next + config.period < now {
                // More than a whole period behind: restart the schedule rather than
                // running a burst of late cycles.
                next = now;
            }
        }
    }
}

/// How often the sim-time rate trigger looks at the clock.
const SIM_POLL: Duration = Duration::from_micros(500);

/// The rate trigger's schedule on simulated time.
#[derive(Clone, Copy, Debug)]
pub struct SimSchedule {
    period_ns: u64,
    /// Simulated time of the next cycle (`None` before the first `/clock`).
    next: Option<u64>,
    /// The clock at the previous poll.
    last: u64,
}

/// What [`SimSchedule::poll`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimPoll {
    /// Not yet time.
    Wait,
    /// Run a cycle now; `jumped` if the clock jumped (the schedule restarted).
    Run { jumped: bool },
}

impl SimSchedule {
    /// A schedule of one cycle per `period` of simulated time.
    pub fn new(period: Duration) -> SimSchedule {
        SimSchedule {
            period_ns: (period.as_nanos() as u64).max(1),
            next: None,
            last: 0,
        }
    }

    /// Looks at the clock (`now_ns`, 0: none yet).
    pub fn poll(&mut self, now_ns: u64) -> SimPoll {
        if now_ns == 0 {
            return SimPoll::Wait;
        }
        let backwards = now_ns < self.last;
        self.last = now_ns;
        let next = match self.next {
            Some(next) if !backwards => next,
            // The first /clock, or time went back (a simulator reset): start here.
            _ => {
                self.next = Some(now_ns + self.period_ns);
                return SimPoll::Run { jumped: backwards };
            }
        };
        if now_ns < next {
            return SimPoll::Wait;
        }
        let forward_jump = now_ns >= next + 2 * self.period_ns;
        // Behind by a whole period or more: restart rather than burst.
        self.next = Some(if now_ns >= next + self.period_ns {
            now_ns + self.period_ns
        } else {
            next + self.period_ns
        });
        SimPoll::Run {
            jumped: forward_jump,
        }
    }
}

/// Observation-trigger waits wake at least this often to notice `stop`.
fn next_poll() -> Instant {
    Instant::now() + Duration::from_millis(100)
}

/// Sleeps until `t`: the OS sleep to within 200 µs, then yields (control-period jitter
/// is dominated by the OS wake-up otherwise).
pub fn sleep_until(t: Instant) {
    const SPIN: Duration = Duration::from_micros(200);
    let now = Instant::now();
    if t > now + SPIN {
        std::thread::sleep(t - now - SPIN);
    }
    while Instant::now() < t {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn delay_compensation_counts_missed_samples_and_aims_at_the_next() {
        let ms = Duration::from_millis;
        let mut c = DelayCompensator::new(ms(50));
        let t0 = Instant::now();
        // No cycle yet: only the age and the publish allowance count.
        assert_eq!(c.plan(t0, ms(10)), (0, Some(t0 + ms(39))));
        for _ in 0..7 {
            c.record(ms(25));
        }
        // One slow cycle does not move the median.
        c.record(ms(60));
        assert_eq!(c.expected_cycle(), ms(25));
        // Planned right after the sample: no step, and ready 1 ms before the next.
        assert_eq!(c.plan(t0, ms(2)), (0, Some(t0 + ms(47))));
        // 34 ms old + 25 ms of planning: the plant samples once under the old command;
        // the command aims at the sample after (100 ms after this one's).
        assert_eq!(c.plan(t0, ms(34)), (1, Some(t0 + ms(65))));
        // The publish allowance counts: 24 + 25 + 1 reaches the sample at 50 ms.
        assert_eq!(c.plan(t0, ms(24)).0, 1);
        assert_eq!(c.plan(t0, Duration::from_secs(10)), (MAX_DELAY_STEPS, None));
        // The median follows a lasting change.
        for _ in 0..8 {
            c.record(ms(45));
        }
        assert_eq!(c.expected_cycle(), ms(45));
        assert_eq!(c.plan(t0, ms(10)).0, 1);
        assert_eq!(
            DelayCompensator::new(Duration::ZERO).plan(t0, ms(80)),
            (0, None)
        );
    }

    #[test]
    fn sim_time_cycles_follow_the_clock_without_bursts_and_restart_after_jumps() {
        let mut s = SimSchedule::new(Duration::from_millis(50));
        assert_eq!(s.poll(0), SimPoll::Wait, "no /clock yet");
        assert_eq!(s.poll(1000 * MS), SimPoll::Run { jumped: false });
        assert_eq!(s.poll(1020 * MS), SimPoll::Wait);
        assert_eq!(s.poll(1050 * MS), SimPoll::Run { jumped: false });
        assert_eq!(s.poll(1099 * MS), SimPoll::Wait);
        // Slightly late: the schedule keeps its phase.
        assert_eq!(s.poll(1110 * MS), SimPoll::Run { jumped: false });
        assert_eq!(s.poll(1149 * MS), SimPoll::Wait);
        assert_eq!(s.poll(1150 * MS), SimPoll::Run { jumped: false });
        // Paused simulation: the clock stands still, no cycles.
        assert_eq!(s.poll(1150 * MS), SimPoll::Wait);
        // A jump forward: one cycle, then the schedule restarts at the new time.
        assert_eq!(s.poll(5000 * MS), SimPoll::Run { jumped: true });
        assert_eq!(s.poll(5001 * MS), SimPoll::Wait);
        assert_eq!(s.poll(5050 * MS), SimPoll::Run { jumped: false });
        // Backwards (simulator reset): run now, restart from there.
        assert_eq!(s.poll(10 * MS), SimPoll::Run { jumped: true });
        assert_eq!(s.poll(40 * MS), SimPoll::Wait);
        assert_eq!(s.poll(60 * MS), SimPoll::Run { jumped: false });
    }
}
