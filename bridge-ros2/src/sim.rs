//! `augur sim pendulum` over a real transport: the node (as `augur run` starts it)
//! and the gymnasium-exact pendulum as a second ROS 2 participant, on loopback.
//!
//! The plant publishes `/joint_states` and applies the latest command from
//! `/effort_controller/commands`. In real time (the default) it steps every 50 ms; with
//! `--lockstep` it steps as soon as the command for its last state has arrived, so
//! an episode takes as long as planning does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use augur_hil::closed_loop::random_start;
use augur_hil::plants::pendulum::{Pendulum, DT};
use crossbeam_channel::{bounded, Receiver};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::run::{resolve, TriggerArg};
use crate::cli::sim::{Args, PlannerKind};
use crate::msg::{Float64MultiArray, Header, JointState, Path};
use crate::node::Node;
use crate::transport::{TopicQos, Transport, TransportKind, TransportOptions};

/// Joint name of the pendulum (INTERFACES.md).
pub const JOINT: &str = "pendulum_joint";

/// One step as the plant saw it.
#[derive(Clone, Copy, Debug)]
pub struct SimStep {
    /// Angle before the step, rad.
    pub theta: f64,
    /// Angular velocity before the step, rad/s.
    pub theta_dot: f64,
    /// Torque applied, N·m.
    pub torque: f64,
    /// Reward of the step.
    pub reward: f64,
    /// State published -> command received.
    pub round_trip: Duration,
    /// The node's predicted angle one step ahead (from `~/predicted_path`), if any.
    pub predicted_theta: Option<f64>,
}

/// A finished episode.
#[derive(Clone, Debug)]
pub struct SimEpisode {
    /// Seed of the start state.
    pub seed: u64,
    /// Sum of rewards.
    pub total_return: f64,
    /// Every step.
    pub steps: Vec<SimStep>,
}

/// Plant participant plus node, ready to run episodes.
pub struct PendulumBench {
    node: Node,
    _transport_node: Arc<Transport>,
    _plant: Arc<Transport>,
    states: crate::transport::Publisher<JointState>,
    commands: Receiver<(f64, Instant)>,
    paths: Receiver<(f64, Instant)>,
    _subscriptions: Vec<crate::transport::Subscription>,
    lockstep: bool,
}

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
            TriggerArg::Observation
        } else {
            TriggerArg::Rate
        };
        let (mut resolved, _) = resolve(model, Some(trigger), ros_args)?;
        if lockstep {
            // The plant waits for each command: nothing moves while the node plans.
            resolved.params.runner.delay_compensation = None;
        }
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
        let plant = Arc::new(Transport::open(&plant_options)?);
        let transport = Arc::new(Transport::open(&node_options)?);
        let command_topic = resolved.topics.command.clone();
        let path_topic = resolved.topics.predicted_path.clone();
        let state_topic = resolved.topics.sources[0].clone();
        let node = Node::start(resolved.params, transport.clone(), resolved.topics, record)?;

        let (tx, commands) = bounded(64);
        let mut subscriptions = vec![plant.subscribe::<Float64MultiArray, _>(
            &command_topic,
            &TopicQos::COMMANDS,
            move |message, received| {
                if let Some(&u) = message.ok().as_ref().and_then(|m| m.data.first()) {
                    let _ = tx.try_send((u, received.received_at));
                }
            },
        )?];
        let (tx, paths) = bounded(64);
        subscriptions.push(plant.subscribe::<Path, _>(
            &path_topic,
            &TopicQos::DEFAULT,
            move |message, received| {
                // Pose 1 is one step ahead; x = sin θ, y = cos θ (node.yaml).
                if let Some(pose) = message.ok().as_ref().and_then(|m| m.poses.get(1)) {
                    let p = &pose.pose.position;
                    let _ = tx.try_send((p.x.atan2(p.y), received.received_at));
                }
            },
        )?);
        let states = plant.publisher::<JointState>(&state_topic, &TopicQos::SENSOR_DATA)?;
        let bench = PendulumBench {
            node,
            _transport_node: transport,
            _plant: plant,
            states,
            commands,
            paths,
            _subscriptions: subscriptions,
            lockstep,
        };
        bench.wait_for_discovery()?;
        Ok(bench)
    }

    fn publish_state(&self, theta: f64, theta_dot: f64) -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.states.publish(&JointState {
            header: Header {
                stamp: crate::msg::Time {
                    sec: now.as_secs() as i32,
                    nanosec: now.subsec_nanos(),
                },
                frame_id: String::new(),
            },
            name: vec![JOINT.into()],
            position: vec![theta],
            velocity: vec![theta_dot],
            effort: vec![],
        })?;
        Ok(())
    }

    /// Publishes a state until a command comes back (discovery done both ways).
    fn wait_for_discovery(&self) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            self.publish_state(0.0, 0.0)?;
            if self
                .commands
                .recv_timeout(Duration::from_millis(100))
                .is_ok()
            {
                std::thread::sleep(Duration::from_millis(100));
                while self.commands.try_recv().is_ok() {}
                return Ok(());
            }
        }
        Err(anyhow!(
            "the node and the plant did not discover each other within 30 s"
        ))
    }

    /// Runs one episode of `steps` periods from `random_start(seed)`.
    pub fn episode(&self, seed: u64, steps: usize) -> anyhow::Result<SimEpisode> {
        self.node.reset();
        while self.commands.try_recv().is_ok() {}
        while self.paths.try_recv().is_ok() {}
        let mut plant = Pendulum::new(random_start(seed));
        let mut records = Vec::with_capacity(steps);
        let mut total = 0.0;
        let mut torque = 0.0;
        let mut next_tick = Instant::now();
        for _ in 0..steps {
            let state = plant.state;
            let sent = Instant::now();
            self.publish_state(state.theta, state.theta_dot)?;
            let mut round_trip = None;
            if self.lockstep {
                let (u, at) = self
                    .commands
                    .recv_timeout(Duration::from_secs(5))
                    .context("no command within 5 s of publishing the state")?;
                torque = u;
                round_trip = Some(at.saturating_duration_since(sent));
            } else {
                next_tick += Duration::from_secs_f64(DT);
                augur_runtime::control::runner::sleep_until(next_tick);
                while let Ok((u, at)) = self.commands.try_recv() {
                    torque = u;
                    round_trip.get_or_insert(at.saturating_duration_since(sent));
                }
            }
            let mut predicted_theta = None;
            while let Ok((theta, _)) = self.paths.try_recv() {
                predicted_theta = Some(theta);
            }
            let reward = plant.step(torque as f32);
            total += reward;
            records.push(SimStep {
                theta: state.theta,
                theta_dot: state.theta_dot,
                torque,
                reward,
                round_trip: round_trip.unwrap_or_default(),
                predicted_theta,
            });
        }
        Ok(SimEpisode {
            seed,
            total_return: total,
            steps: records,
        })
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

/// `augur sim pendulum` over the transport.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let planner = match args.planner {
        PlannerKind::Tree => "tree",
        PlannerKind::Mppi => "mppi",
    };
    let ros_args: Vec<String> = [
        "--ros-args".to_string(),
        "-p".into(),
        format!("planner:={planner}"),
        "-p".into(),
        format!("max_transitions:={}", args.transitions),
    ]
    .into();
    let options = TransportOptions::local(args.transport, "augur");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output folder {}", args.out.display()))?;
    let recording = args.out.join("pendulum.mcap");
    let bench = PendulumBench::start(
        &args.model,
        &options,
        &ros_args,
        args.lockstep,
        Some(&recording),
    )?;
    println!(
        "pendulum over {:?} on loopback: node `augur` ({planner}, {} transitions per plan) and plant participant `pendulum_plant`, {}",
        args.transport,
        args.transitions,
        if args.lockstep { "lock-step" } else { "real time (20 Hz)" }
    );
    let bar = ProgressBar::new(args.episodes * args.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} steps {msg}")?.progress_chars("=> "),
    );
    let mut episodes = Vec::new();
    for seed in 0..args.episodes {
        let episode = bench.episode(seed, args.steps)?;
        bar.inc(args.steps as u64);
        bar.println(format!(
            "episode {seed:>2}: return {:8.1}",
            episode.total_return
        ));
        episodes.push(episode);
    }
    bar.finish_and_clear();
    let d = bench.node().diagnostics();
    bench.stop();
    let returns: Vec<f64> = episodes.iter().map(|e| e.total_return).collect();
    let mut round_trips: Vec<Duration> = episodes
        .iter()
        .flat_map(|e| e.steps.iter().map(|s| s.round_trip))
        .collect();
    round_trips.sort_unstable();
    let q = |q: f64| {
        round_trips[((round_trips.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
    };
    println!(
        "mean return {:.1} over {} episodes (gymnasium's best agents: about -150)",
        returns.iter().sum::<f64>() / returns.len() as f64,
        returns.len()
    );
    println!(
        "state -> command round trip: median {:.2} ms, p99 {:.2} ms; cycles {}, deadline misses {}, safe cycles {}",
        q(0.5),
        q(0.99),
        d.cycles,
        d.deadline_misses,
        d.safe_cycles
    );
    let plot = args.out.join("pendulum.png");
    write_outputs(&episodes, &args.out.join("episodes.json"), &plot)?;
    println!(
        "wrote {} (open it in Foxglove or `ros2 bag info`), {} and {}",
        recording.display(),
        args.out.join("episodes.json").display(),
        plot.display()
    );
    Ok(())
}

/// Writes every step as JSON and the angle / torque / latency plot.
fn write_outputs(
    episodes: &[SimEpisode],
    json_path: &std::path::Path,
    plot_path: &std::path::Path,
) -> anyhow::Result<()> {
    let json: Vec<serde_json::Value> = episodes
        .iter()
        .map(|e| {
            serde_json::json!({
                "seed": e.seed,
                "return": e.total_return,
                "theta": e.steps.iter().map(|s| s.theta).collect::<Vec<_>>(),
                "theta_dot": e.steps.iter().map(|s| s.theta_dot).collect::<Vec<_>>(),
                "torque": e.steps.iter().map(|s| s.torque).collect::<Vec<_>>(),
                "reward": e.steps.iter().map(|s| s.reward).collect::<Vec<_>>(),
                "predicted_theta": e.steps.iter().map(|s| s.predicted_theta).collect::<Vec<_>>(),
                "round_trip_ms": e.steps.iter().map(|s| s.round_trip.as_secs_f64() * 1e3).collect::<Vec<_>>(),
            })
        })
        .collect();
    std::fs::write(json_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", json_path.display()))?;

    // Episodes back to back on one time axis; NaN between them breaks the lines.
    let mut actual = Vec::new();
    let mut predicted = Vec::new();
    let mut torque = Vec::new();
    let mut latency = Vec::new();
    let mut t0 = 0.0;
    for episode in episodes {
        for (k, step) in episode.steps.iter().enumerate() {
            let t = t0 + k as f64 * DT;
            actual.push((
                t,
                augur_runtime::control::observation::wrap_angle(step.theta),
            ));
            torque.push((t, step.torque));
            latency.push((t, step.round_trip.as_secs_f64() * 1e3));
            // The prediction made at step k is for the angle at step k + 1.
            if let Some(theta) = step.predicted_theta {
                predicted.push((
                    t + DT,
                    augur_runtime::control::observation::wrap_angle(theta),
                ));
            }
        }
        t0 += episode.steps.len() as f64 * DT;
        for series in [&mut actual, &mut predicted, &mut torque, &mut latency] {
            series.push((t0, f64::NAN));
        }
    }
    let line = |label: &str, points: Vec<(f64, f64)>| augur_hil::plot::Series {
        label: label.into(),
        points,
    };
    let panels = [
        augur_hil::plot::Panel {
            y_label: "angle θ (rad, 0 upright)".into(),
            series: vec![
                line("actual", actual),
                line("predicted one step ahead", predicted),
            ],
            shaded: Vec::new(),
        },
        augur_hil::plot::Panel {
            y_label: "torque (N·m)".into(),
            series: vec![line("command", torque)],
            shaded: Vec::new(),
        },
        augur_hil::plot::Panel {
            y_label: "state → command (ms)".into(),
            series: vec![line("round trip", latency)],
            shaded: Vec::new(),
        },
    ];
    augur_hil::plot::time_series_png(
        plot_path,
        &format!("augur sim pendulum: {} episodes", episodes.len()),
        "time (s, episodes back to back)",
        &panels,
        1200,
        260,
    )
}
