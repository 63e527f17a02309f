//! `augur sim pendulum` over a real transport: the node (as `augur run` starts it)
//! and the gymnasium-exact pendulum as a second ROS 2 participant, on loopback.
//!
//! The plant publishes `/joint_states` (or, for a model that reads a camera, the
//! frames gymnasium's renderer would draw, on the camera topic) and applies the latest
//! command from `/effort_controller/commands`. In real time (the default) it steps
//! every 50 ms; with `--lockstep` it steps as soon as the command for its last
//! observation has arrived, so an episode takes as long as planning does.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::closed_loop::{random_start, Episode, StepRecord};
use crate::plant_link::{joint_state, PlantLink};
use crate::plants::pendulum::{Pendulum, PendulumState, DT, JOINT};
use crate::plants::render::PendulumCamera;
use anyhow::Context;
use crossbeam_channel::{bounded, Receiver};

use augur_runtime::control::{SourceKind, Trigger};

use augur_bridge_ros2::msg::{Image, Path, Time};
use augur_bridge_ros2::node::launch::resolve;
use augur_bridge_ros2::node::Node;
use augur_bridge_ros2::transport::{TopicQos, Transport, TransportKind, TransportOptions};

/// What the node published about its view of the episode (camera models): its
/// model input (`~/model_view`) and its imagined plans (`~/imagined`), each with the
/// time the plant received it, and when each step's command arrived, to tell which
/// step a view belongs to.
#[derive(Debug, Default)]
pub struct EpisodeViews {
    /// Per step: when its command arrived (`None`: no command in that period).
    pub commands_at: Vec<Option<Instant>>,
    pub model_views: Vec<(Image, Instant)>,
    pub imagined: Vec<(Image, Instant)>,
}

impl EpisodeViews {
    /// The step whose cycle published something received at `at`: the last step
    /// whose command had arrived by then (the node publishes its views right after
    /// the command).
    pub fn step_of(&self, at: Instant) -> Option<usize> {
        self.commands_at
            .iter()
            .rposition(|c| c.is_some_and(|c| c <= at))
    }
}

/// The node's views as they arrive, on the plant's participant.
struct ViewTaps {
    model_views: Receiver<(Image, Instant)>,
    imagined: Receiver<(Image, Instant)>,
}

/// Views kept per episode, at most (the node publishes one model view a cycle).
const MAX_VIEWS: usize = 1024;

/// Plant participant plus node, ready to run episodes.
pub struct PendulumBench {
    node: Node,
    commands: Receiver<(f64, Instant)>,
    paths: Receiver<(f64, Instant)>,
    lockstep: bool,
    /// A camera model's plant: the frames it publishes instead of joint states.
    camera: Option<RefCell<PendulumCamera>>,
    views: Option<ViewTaps>,
    /// Real time: when one of the node's cycles started (its rate-trigger schedule;
    /// every other start is a whole number of periods away).
    cycle_start: Option<Instant>,
    // Fields drop in order, and a participant must outlive every subscription and
    // publisher made on it: the plant's subscriptions, then the plant, then the
    // node's participant.
    _subscriptions: Vec<augur_bridge_ros2::transport::Subscription>,
    plant: PlantLink,
    _transport_node: Arc<Transport>,
}

/// Real time: the plant samples this long before the node's cycle starts, so each
/// cycle plans from a state just sampled (transport on loopback takes well under a
/// millisecond) and its command arrives long before the next sample.
const SAMPLE_LEAD: Duration = Duration::from_millis(3);
/// The same for a camera: drawing the frame, 750 kB through DDS fragmentation and
/// the node's preprocessing take a few milliseconds (docs/benchmarks.md, bench-node
/// with `--image 500x500`), and the frame must be in before the cycle starts.
const CAMERA_SAMPLE_LEAD: Duration = Duration::from_millis(12);

/// Command arrivals whose cycle start is measured to find the node's schedule.
const PHASE_SAMPLES: usize = 10;

impl PendulumBench {
    /// Starts the node for `model` (trigger: observation when lock-stepped; recording
    /// to `record` if given) and the plant participant, and waits until they see each
    /// other. Over zenoh the plant listens on a free loopback port and the node
    /// connects to it.
    pub fn start(
        model: &std::path::Path,
        options: &TransportOptions,
        ros_args: &[String],
        lockstep: bool,
        record: Option<&std::path::Path>,
    ) -> anyhow::Result<PendulumBench> {
        let trigger = if lockstep {
            Trigger::Observation
        } else {
            Trigger::Rate
        };
        let mut resolved = resolve(model, Some(trigger), ros_args)?;
        if lockstep {
            // The plant waits for each command: nothing moves while the node plans.
            resolved.params.runner.delay_compensation = None;
        }
        // A model reading one camera gets gymnasium's frames; else joint states.
        let sources = resolved.params.observation.sources();
        let camera = sources.len() == 1 && sources[0].kind == SourceKind::Image;
        let mut node_options = options.clone();
        let mut plant_options = TransportOptions {
            node_name: "pendulum_plant".into(),
            ..options.clone()
        };
        if options.kind == TransportKind::Zenoh {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            plant_options.zenoh_listen = vec![format!("tcp/127.0.0.1:{port}")];
            plant_options.zenoh_connect = Vec::new();
            node_options.zenoh_connect = plant_options.zenoh_listen.clone();
        }
        // The plant first, so the node's session finds it listening.
        let (tx, commands) = bounded(64);
        let sensor_topic = &resolved.topics.sources[0];
        let plant = PlantLink::open(
            &plant_options,
            // A camera plant's link publishes no joint states on the camera topic.
            if camera {
                "/pendulum_plant/joint_states"
            } else {
                sensor_topic
            },
            Some(&resolved.topics.command),
            move |command| {
                if let Some(&u) = command.values.first() {
                    let _ = tx.try_send((u, command.received_at));
                }
            },
        )?;
        let plant = if camera {
            plant.with_camera(sensor_topic)?
        } else {
            plant
        };
        let view_topics = (
            resolved.topics.model_view.clone(),
            resolved.topics.imagined.clone(),
        );
        let transport = Arc::new(Transport::open(&node_options)?);
        let path_topic = resolved.topics.predicted_path.clone();
        let node = Node::start(resolved, transport.clone(), record)?;
        let (tx, paths) = bounded(64);
        let mut subscriptions = vec![plant.transport().subscribe::<Path, _>(
            &path_topic,
            &TopicQos::DEFAULT,
            move |message, received| {
                // Pose 1 is one step ahead; x = sin θ, y = cos θ (node.yaml).
                if let Some(pose) = message.ok().as_ref().and_then(|m| m.poses.get(1)) {
                    let p = &pose.pose.position;
                    let _ = tx.try_send((p.x.atan2(p.y), received.received_at));
                }
            },
        )?];
        let views = if camera {
            let mut tap = |topic: &str| -> anyhow::Result<Receiver<(Image, Instant)>> {
                let (tx, rx) = bounded(MAX_VIEWS);
                subscriptions.push(plant.transport().subscribe::<Image, _>(
                    topic,
                    &augur_bridge_ros2::transport::TopicQos::SENSOR_DATA,
                    move |message, received| {
                        if let Ok(image) = message {
                            let _ = tx.try_send((image, received.received_at));
                        }
                    },
                )?);
                Ok(rx)
            };
            Some(ViewTaps {
                model_views: tap(&view_topics.0)?,
                imagined: tap(&view_topics.1)?,
            })
        } else {
            None
        };
        let mut bench = PendulumBench {
            node,
            _transport_node: transport,
            plant,
            commands,
            paths,
            _subscriptions: subscriptions,
            lockstep,
            camera: camera.then(|| RefCell::new(PendulumCamera::gymnasium())),
            views,
            cycle_start: None,
        };
        bench.wait_for_discovery()?;
        if !lockstep {
            bench.cycle_start = Some(bench.measure_cycle_start()?);
        }
        Ok(bench)
    }

    /// Publishes what the robot's sensor reports of `state`: its joint state, or
    /// its camera's frame (with the arrow of `last_torque`, as gymnasium draws it).
    fn publish_state(&self, state: PendulumState, last_torque: Option<f32>) -> anyhow::Result<()> {
        match &self.camera {
            Some(camera) => {
                let image = camera
                    .borrow_mut()
                    .image(state.theta, last_torque, Time::now());
                self.plant.publish_image(&image)?;
            }
            None => self.plant.publish(&joint_state(
                Time::now(),
                vec![JOINT.into()],
                vec![state.theta],
                vec![state.theta_dot],
            ))?,
        }
        Ok(())
    }

    /// Publishes the pendulum at rest until a command comes back (discovery done
    /// both ways).
    fn wait_for_discovery(&self) -> anyhow::Result<()> {
        let rest = PendulumState {
            theta: 0.0,
            theta_dot: 0.0,
        };
        self.plant.wait_for_commands(
            1,
            Duration::from_secs(30),
            Duration::from_millis(100),
            || self.publish_state(rest, None),
            || Ok(()),
        )?;
        std::thread::sleep(Duration::from_millis(100));
        while self.commands.try_recv().is_ok() {}
        Ok(())
    }

    /// When one of the node's rate-triggered cycles started: each command arrives one
    /// cycle time after its cycle's start (the in-process node reports the time), so
    /// the median start over a few commands, folded onto one period, is the
    /// schedule. The plant then samples just before the node's cycles start instead
    /// of at a phase left to chance: at a phase where commands land at the plant's
    /// sample instant, half the commands arrive just too late and are attributed to
    /// the next state (round trips flip between ~0 and a whole period).
    fn measure_cycle_start(&self) -> anyhow::Result<Instant> {
        let period = Duration::from_secs_f64(DT);
        let mut reference: Option<Instant> = None;
        let mut offsets = Vec::with_capacity(PHASE_SAMPLES);
        while offsets.len() < PHASE_SAMPLES {
            self.publish_state(
                PendulumState {
                    theta: 0.0,
                    theta_dot: 0.0,
                },
                None,
            )?;
            let (_, at) = self
                .commands
                .recv_timeout(Duration::from_secs(5))
                .context("no command within 5 s while measuring the node's schedule")?;
            let cycle_time = self.node.diagnostics().last_cycle_time;
            let start = at.checked_sub(cycle_time).unwrap_or(at);
            let reference = *reference.get_or_insert(start);
            // Offset from the reference cycle, folded into (-period/2, period/2].
            let ahead = start.saturating_duration_since(reference).as_secs_f64();
            let folded = (ahead / DT + 0.5).rem_euclid(1.0) - 0.5;
            offsets.push(folded * DT);
        }
        offsets.sort_by(f64::total_cmp);
        let median = offsets[offsets.len() / 2];
        let reference = reference.unwrap_or_else(Instant::now);
        Ok(if median >= 0.0 {
            reference + Duration::from_secs_f64(median)
        } else {
            reference + period - Duration::from_secs_f64(-median)
        })
    }

    /// The first plant sample instant from now on: [`SAMPLE_LEAD`] (a camera:
    /// [`CAMERA_SAMPLE_LEAD`]) before one of the
    /// node's cycle starts (now, lock-stepped or before the schedule is known).
    fn first_sample(&self) -> Instant {
        let now = Instant::now();
        let Some(cycle_start) = self.cycle_start else {
            return now;
        };
        let period = DT;
        let since = now.saturating_duration_since(cycle_start).as_secs_f64();
        let next_start = cycle_start + Duration::from_secs_f64((since / period).ceil() * period);
        let lead = if self.camera.is_some() {
            CAMERA_SAMPLE_LEAD
        } else {
            SAMPLE_LEAD
        };
        let sample = next_start - lead;
        if sample >= now {
            sample
        } else {
            sample + Duration::from_secs_f64(period)
        }
    }

    /// Runs one episode of `steps` periods from `random_start(seed)`.
    pub fn episode(&self, seed: u64, steps: usize) -> anyhow::Result<Episode> {
        self.episode_from(seed, random_start(seed), steps)
    }

    /// Runs one episode of `steps` periods from `start` (`seed` labels it), e.g.
    /// gymnasium's own start for the seed (`closed_loop::gymnasium_start`).
    pub fn episode_from(
        &self,
        seed: u64,
        start: PendulumState,
        steps: usize,
    ) -> anyhow::Result<Episode> {
        self.run_episode(seed, start, steps, None)
    }

    /// [`PendulumBench::episode_from`], keeping what the node published about its
    /// view of the episode (camera models; empty otherwise).
    pub fn episode_with_views(
        &self,
        seed: u64,
        start: PendulumState,
        steps: usize,
    ) -> anyhow::Result<(Episode, EpisodeViews)> {
        let mut views = EpisodeViews::default();
        let episode = self.run_episode(seed, start, steps, Some(&mut views))?;
        Ok((episode, views))
    }

    fn run_episode(
        &self,
        seed: u64,
        start: PendulumState,
        steps: usize,
        mut views: Option<&mut EpisodeViews>,
    ) -> anyhow::Result<Episode> {
        self.node.reset();
        while self.commands.try_recv().is_ok() {}
        while self.paths.try_recv().is_ok() {}
        self.take_views(None);
        let mut plant = Pendulum::new(start);
        let mut records = Vec::with_capacity(steps);
        let mut total = 0.0;
        let mut torque = 0.0;
        // gymnasium draws no torque arrow until the first step.
        let mut last_torque = None;
        let mut next_tick = self.first_sample();
        augur_runtime::control::runner::sleep_until(next_tick);
        for _ in 0..steps {
            let state = plant.state;
            let sent = Instant::now();
            self.publish_state(state, last_torque)?;
            let mut round_trip = None;
            let mut command_at = None;
            if self.lockstep {
                let (u, at) = self
                    .commands
                    .recv_timeout(Duration::from_secs(5))
                    .context("no command within 5 s of publishing the observation")?;
                torque = u;
                round_trip = Some(at.saturating_duration_since(sent));
                command_at = Some(at);
            } else {
                next_tick += Duration::from_secs_f64(DT);
                augur_runtime::control::runner::sleep_until(next_tick);
                while let Ok((u, at)) = self.commands.try_recv() {
                    torque = u;
                    round_trip.get_or_insert(at.saturating_duration_since(sent));
                    command_at.get_or_insert(at);
                }
            }
            if let Some(views) = views.as_deref_mut() {
                views.commands_at.push(command_at);
            }
            self.take_views(views.as_deref_mut());

            let mut predicted_theta = None;
            while let Ok((theta, _)) = self.paths.try_recv() {
                predicted_theta = Some(theta);
            }
            let reward = plant.step(torque as f32);
            last_torque = Some(crate::plants::pendulum::clip(torque as f32));
            total += reward;
            records.push(StepRecord {
                state,
                action: torque as f32,
                reward,
                latency: round_trip.unwrap_or_default(),
                predicted_reward: None,
                transitions: None,
                predicted_theta,
            });
        }
        if let Some(views) = views {
            // The last cycle's views are published after its command.
            std::thread::sleep(Duration::from_millis(100));
            self.take_views(Some(views));
        }
        Ok(Episode {
            seed,
            total_return: total,
            steps: records,
        })
    }

    /// Moves the views received so far into `into` (or drops them).
    fn take_views(&self, mut into: Option<&mut EpisodeViews>) {
        let Some(taps) = &self.views else { return };
        while let Ok(view) = taps.model_views.try_recv() {
            if let Some(into) = into.as_deref_mut() {
                into.model_views.push(view);
            }
        }
        while let Ok(view) = taps.imagined.try_recv() {
            if let Some(into) = into.as_deref_mut() {
                into.imagined.push(view);
            }
        }
    }

    /// Whether the plant is a camera (the model reads images).
    pub fn is_camera(&self) -> bool {
        self.camera.is_some()
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Stops the node (closing its recording) and the plant.
    pub fn stop(self) {
        self.node.stop();
    }
}
