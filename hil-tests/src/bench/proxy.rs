//! The fault proxy: the only publisher of the node's sensor topic on the bench. The
//! plant hands it every reading its sensor would publish (a JointState, or what its
//! camera sees, which the proxy's camera draws); the proxy applies the scenario's
//! sensor faults (dropout, delay and jitter, non-finite and out-of-range values,
//! wrong-length arrays, unknown joints, flood; for a camera corrupt frames and a
//! resolution change) and publishes what the robot's faulty sensor would have sent.
//! It owns the plant's participant ([`SensorLink`]), so a plant restart is that
//! participant going away and a new one appearing. It logs what it did to each
//! window, which is what the judge compares the node's reaction and `/diagnostics`
//! counts against.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::judge::InjectedWindow;
use crate::plants::render::{PendulumCamera, GYMNASIUM_SIZE};
use crate::scenario::{Fault, FaultKind, ImageDefect, SensorField};
use crossbeam_channel::{unbounded, Sender};

use augur_bridge_ros2::msg::{Image, JointState, Time};
use augur_bridge_ros2::transport::{TransportError, TransportKind, TransportOptions};

use crate::plant_link::PlantLink;

/// What the plant's sensor reports this period.
#[derive(Clone, Debug)]
pub enum Reading {
    /// Its joint state.
    Joints(JointState),
    /// What its camera sees: the pendulum at `theta` with the arrow of the last
    /// torque (none yet after a reset), as gymnasium draws it.
    Camera {
        stamp: Time,
        theta: f64,
        last_torque: Option<f32>,
    },
}

/// A message on the sensor topic.
#[derive(Clone, Debug)]
enum SensorMessage {
    Joints(JointState),
    Frame(Image),
}

/// What the proxy did so far.
#[derive(Default)]
struct ProxyLog {
    windows: Vec<InjectedWindow>,
    /// The last unaltered message published, s.
    last_good: Option<f64>,
    /// The last message the plant handed over (flood re-publishes it).
    last_message: Option<SensorMessage>,
}

/// The plant's own DDS participant and its sensor publisher: dropping it takes the
/// plant off the network, as a plant process exiting does.
pub struct SensorLink(PlantLink);

impl SensorLink {
    /// A new loopback participant `augur_hil_plant` publishing on `topic`: joint
    /// states, or with `camera` frames (`sensor_msgs/Image`, reliable as camera
    /// drivers publish).
    pub fn open(topic: &str, camera: bool) -> Result<SensorLink, TransportError> {
        let options = TransportOptions::local(TransportKind::Dds, "augur_hil_plant");
        if camera {
            PlantLink::open(&options, "/augur_hil_plant/joint_states", None, |_| {})?
                .with_camera(topic)
                .map(SensorLink)
        } else {
            PlantLink::open(&options, topic, None, |_| {}).map(SensorLink)
        }
    }
}

type SharedLink = Arc<Mutex<Option<SensorLink>>>;

/// Relays plant sensor messages to the node's topic through a fault schedule.
pub struct FaultProxy {
    link: SharedLink,
    faults: Vec<Fault>,
    /// Start of the run; until [`FaultProxy::start_clock`] it lies in the future, so
    /// every message is relayed unaltered (discovery, model load).
    t0: Mutex<Instant>,
    log: Arc<Mutex<ProxyLog>>,
    delayed: Sender<(Instant, SensorMessage)>,
    rng: Mutex<u64>,
    /// Draws camera readings, at the size a `resolution` fault sets.
    camera: Mutex<Option<PendulumCamera>>,
}

/// Publishing failures are not the node's fault; they are counted in the log as
/// messages not sent, never panicking the bench.
/// While the plant is down (no link) nothing is sent.
fn publish(link: &Mutex<Option<SensorLink>>, message: &SensorMessage) -> bool {
    link.lock()
        .map(|l| {
            l.as_ref().is_some_and(|l| match message {
                SensorMessage::Joints(m) => l.0.publish(m).is_ok(),
                SensorMessage::Frame(m) => l.0.publish_image(m).is_ok(),
            })
        })
        .unwrap_or(false)
}

/// `image` broken as `defect` says.
fn corrupt(image: &mut Image, defect: ImageDefect) {
    match defect {
        ImageDefect::Encoding => image.encoding = "yuv422".into(),
        ImageDefect::Step => {
            let half = image.data.len() / 2;
            image.data.truncate(half);
        }
        ImageDefect::Empty => {
            image.width = 0;
            image.height = 0;
            image.step = 0;
            image.data.clear();
        }
    }
}

impl FaultProxy {
    /// A proxy publishing through `link`, with `faults` timed from `t0`. Every fault
    /// of the scenario gets a window in the log (process faults are filled in by the
    /// runner through [`FaultProxy::with_window`]).
    pub fn new(link: SensorLink, faults: &[Fault], seed: u64) -> FaultProxy {
        let link: SharedLink = Arc::new(Mutex::new(Some(link)));
        let (delayed, queue) = unbounded::<(Instant, SensorMessage)>();
        {
            // Delayed messages leave in release order (jitter may reorder them, as a
            // congested link would).
            let link = link.clone();
            std::thread::Builder::new()
                .name("hil-delay".into())
                .spawn(move || {
                    let mut pending: Vec<(Instant, SensorMessage)> = Vec::new();
                    loop {
                        let timeout = pending
                            .first()
                            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
                            .unwrap_or(Duration::from_millis(100));
                        match queue.recv_timeout(timeout) {
                            Ok(item) => {
                                let at = pending.partition_point(|(t, _)| *t <= item.0);
                                pending.insert(at, item);
                            }
                            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
                                if pending.is_empty() =>
                            {
                                return
                            }
                            Err(_) => {}
                        }
                        let now = Instant::now();
                        while pending.first().is_some_and(|(at, _)| *at <= now) {
                            let (_, message) = pending.remove(0);
                            publish(&link, &message);
                        }
                    }
                })
                .expect("spawning a thread");
        }
        let windows = faults
            .iter()
            .enumerate()
            .map(|(i, f)| InjectedWindow {
                fault: i,
                kind: f.kind.name().into(),
                start: f.start,
                end: f.end(),
                ..Default::default()
            })
            .collect();
        FaultProxy {
            link,
            faults: faults.to_vec(),
            t0: Mutex::new(Instant::now() + Duration::from_secs(1 << 20)),
            log: Arc::new(Mutex::new(ProxyLog {
                windows,
                ..Default::default()
            })),
            delayed,
            rng: Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            camera: Mutex::new(None),
        }
    }

    /// The message the sensor sends for `reading`: a camera reading drawn at the
    /// size the active fault (if a `resolution` fault) sets, else gymnasium's.
    fn message(&self, reading: Reading, active: Option<usize>) -> SensorMessage {
        match reading {
            Reading::Joints(m) => SensorMessage::Joints(m),
            Reading::Camera {
                stamp,
                theta,
                last_torque,
            } => {
                let size = match active.map(|i| &self.faults[i].kind) {
                    Some(&FaultKind::Resolution { width, height }) => (width, height),
                    _ => (GYMNASIUM_SIZE, GYMNASIUM_SIZE),
                };
                let mut camera = self.camera.lock().unwrap_or_else(|e| e.into_inner());
                let camera = match camera.as_mut() {
                    Some(c) if c.size() == size => c,
                    _ => camera.insert(PendulumCamera::new(size.0, size.1)),
                };
                SensorMessage::Frame(camera.image(theta, last_torque, stamp))
            }
        }
    }

    /// Takes the plant off the network (its participant is dropped).
    pub fn disconnect(&self) {
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(link);
    }

    /// Puts a (new) plant participant on the network.
    pub fn connect(&self, link: SensorLink) {
        *self.link.lock().unwrap_or_else(|e| e.into_inner()) = Some(link);
    }

    /// Starts the fault schedule's clock.
    pub fn start_clock(&self, t0: Instant) {
        *self.t0.lock().unwrap_or_else(|e| e.into_inner()) = t0;
    }

    fn start(&self) -> Instant {
        *self.t0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds since the start of the run (0 before it).
    fn now(&self) -> f64 {
        self.start().elapsed().as_secs_f64()
    }

    /// A uniform sample in [-1, 1) (xorshift; the bench needs no better).
    fn uniform(&self) -> f64 {
        let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// Runs `f` on window `i` of the log.
    pub fn with_window<R>(&self, i: usize, f: impl FnOnce(&mut InjectedWindow) -> R) -> R {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut log.windows[i])
    }

    /// The windows as executed so far.
    pub fn windows(&self) -> Vec<InjectedWindow> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .windows
            .clone()
    }

    /// Relays one sensor reading from the plant, applying the active fault.
    pub fn forward(&self, reading: Reading) {
        let t = self.now();
        let active = self.faults.iter().position(|f| t >= f.start && t < f.end());
        let mut message = self.message(reading, active);
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.last_message = Some(message.clone());
        let Some(i) = active else {
            if publish(&self.link, &message) {
                log.last_good = Some(t);
                for w in &mut log.windows {
                    if w.end <= t && w.first_good_after.is_none() {
                        w.first_good_after = Some(t);
                    }
                }
            }
            return;
        };
        if log.windows[i].last_good_before.is_none() {
            log.windows[i].last_good_before = log.last_good;
        }
        match &self.faults[i].kind {
            FaultKind::SensorDropout {} => {}
            FaultKind::Delay { delay, jitter } => {
                let hold = (delay + jitter * self.uniform()).max(0.0);
                let _ = self
                    .delayed
                    .send((Instant::now() + Duration::from_secs_f64(hold), message));
            }
            kind @ (FaultKind::NonFinite { field, .. } | FaultKind::OutOfRange { field, .. }) => {
                let value = match kind {
                    FaultKind::OutOfRange { value, .. } => *value,
                    _ => kind.non_finite_value().unwrap_or(f64::NAN),
                };
                if let SensorMessage::Joints(m) = &mut message {
                    let values = match field {
                        SensorField::Position => &mut m.position,
                        SensorField::Velocity => &mut m.velocity,
                    };
                    values.iter_mut().for_each(|v| *v = value);
                }
                if publish(&self.link, &message) {
                    log.windows[i].first_bad.get_or_insert(t);
                }
            }
            FaultKind::WrongLength {} => {
                if let SensorMessage::Joints(m) = &mut message {
                    m.position.push(0.0);
                }
                if publish(&self.link, &message) {
                    log.windows[i].first_bad.get_or_insert(t);
                    log.windows[i].malformed_sent += 1;
                }
            }
            FaultKind::CorruptImage { defect } => {
                if let SensorMessage::Frame(image) = &mut message {
                    corrupt(image, *defect);
                }
                if publish(&self.link, &message) {
                    log.windows[i].first_bad.get_or_insert(t);
                    log.windows[i].malformed_sent += 1;
                }
            }
            // Drawn at the new size above; the node must take it in its stride.
            FaultKind::Resolution { .. } => {
                if publish(&self.link, &message) {
                    log.windows[i].first_bad.get_or_insert(t);
                    log.last_good = Some(t);
                }
            }
            FaultKind::UnknownJoint {} => {
                if let SensorMessage::Joints(m) = &mut message {
                    for (k, name) in m.name.iter_mut().enumerate() {
                        *name = format!("unknown_joint_{k}");
                    }
                }
                if publish(&self.link, &message) {
                    log.windows[i].first_bad.get_or_insert(t);
                    log.windows[i].malformed_sent += 1;
                }
            }
            FaultKind::Flood { rate_hz } => {
                // The stream itself goes on unaltered; a thread adds the flood the
                // first time the window is seen.
                if publish(&self.link, &message) {
                    log.last_good = Some(t);
                }
                if log.windows[i].first_bad.is_none() {
                    log.windows[i].first_bad = Some(t);
                    self.start_flood(i, *rate_hz);
                }
            }
            // The plant is down: it sends nothing (the runner stops stepping it).
            FaultKind::PlantRestart {} => {}
            // Process and clock faults are the runner's; the sensor stream is unaltered.
            FaultKind::CpuStarvation { .. }
            | FaultKind::KillRestart {}
            | FaultKind::ClockJump { .. } => {
                if publish(&self.link, &message) {
                    log.last_good = Some(t);
                }
            }
        }
    }

    /// Re-publishes the plant's last message at `rate_hz` until window `i` ends.
    fn start_flood(&self, i: usize, rate_hz: f64) {
        let link = self.link.clone();
        let log = self.log.clone();
        let end = self.start() + Duration::from_secs_f64(self.faults[i].end());
        let period = Duration::from_secs_f64(1.0 / rate_hz);
        std::thread::Builder::new()
            .name("hil-flood".into())
            .spawn(move || {
                let mut next = Instant::now();
                let mut sent = 0u64;
                while next < end {
                    let message = log
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .last_message
                        .clone();
                    if let Some(message) = message {
                        if publish(&link, &message) {
                            sent += 1;
                        }
                    }
                    next += period;
                    augur_runtime::control::runner::sleep_until(next);
                }
                log.lock().unwrap_or_else(|e| e.into_inner()).windows[i].extra_sent = sent;
            })
            .expect("spawning a thread");
    }
}
