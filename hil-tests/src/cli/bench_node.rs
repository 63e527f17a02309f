//! `augur bench-node`: the node's own overheads, measured on the real binary over a
//! real transport on loopback.
//!
//! The node runs as a child process (`augur run --record`, exactly as a user starts
//! it); this process plays the robot. Two runs:
//! - **latency** (observation trigger, lock-step): the robot publishes a JointState
//!   and waits for the command. The round trip minus the cycle's compute time (encode,
//!   plan, safety; from the node's recording) is the message-in to command-out
//!   latency excluding planning: both transport hops, ingest, queues and publishing.
//! - **rate** (rate trigger at `--rate-hz`): the robot streams states; the node's
//!   recording gives how late each cycle started against its fixed schedule (the
//!   control-period jitter) and which cycles overran; the child's resident memory is
//!   sampled from `/proc` throughout.
//!
//! A model whose one source is a camera (`models/pendulum-pixels`) is driven with
//! `sensor_msgs/Image` frames of the pendulum's camera instead (`plants::render`),
//! `--image WxH` rgb8 (500x500 by default, as gymnasium renders; 1280x720 for an HD camera), published reliable: the latency then
//! includes the frame's DDS fragmentation and reassembly, its decode and the
//! preprocessing on the ingest thread. In the rate run frames stream at the control
//! rate (a camera does not run at twice the loop's rate).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use augur_runtime::control::observation::Field;
use augur_runtime::control::{SourceKind, Trigger};
use augur_runtime::record::CycleRecord;
use crossbeam_channel::bounded;

use crate::node_process::{memory_kib, read_cycles, read_plan_stats, run_command, NodeProcess};
use augur_bridge_ros2::msg::{Header, Image, JointState, Time};
use augur_bridge_ros2::node::launch::resolve;
use augur_bridge_ros2::transport::{TransportKind, TransportOptions};

use crate::plant_link::PlantLink;

/// Arguments of `augur bench-node`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package (its sources must be JointState topics).
    #[arg(long, default_value = "models/pendulum")]
    pub model: PathBuf,
    /// Transport between the robot and the node.
    #[arg(long, value_enum, default_value = "dds")]
    pub transport: TransportKind,
    /// Lock-step round trips to time in the latency run.
    #[arg(long, default_value_t = 2000)]
    pub messages: usize,
    /// Control rate of the rate run, Hz.
    #[arg(long, default_value_t = 100.0)]
    pub rate_hz: f64,
    /// Length of the rate run, s.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Extra node parameters for both runs, `name:=value` (e.g. `max_transitions:=512`).
    #[arg(short = 'p', long = "param")]
    pub params: Vec<String>,
    /// Also write the figures to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Camera models: the frame size published, `WIDTHxHEIGHT` (rgb8).
    #[arg(long, default_value = "500x500", value_parser = parse_size)]
    pub image: (u32, u32),
    /// Camera models: also time the transport floor, the same frames through an echo
    /// process that answers each one at once and does nothing else.
    #[arg(long)]
    pub echo: bool,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once('x')
        .ok_or_else(|| format!("`{text}`: expected WIDTHxHEIGHT, e.g. 1280x720"))?;
    let parse = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|&v| (1..=8192).contains(&v))
            .ok_or_else(|| format!("`{text}`: sides are 1 to 8192 pixels"))
    };
    Ok((parse(w)?, parse(h)?))
}

/// Percentiles of a sample, in milliseconds.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Summary {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            values
                .get(((values.len().max(1) - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        Summary {
            count: values.len(),
            median_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// The figures of one `bench-node` run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub model: String,
    pub transport: String,
    /// Round trip minus the cycle's compute time.
    pub latency_excluding_planning: Summary,
    /// Round trip as the robot sees it.
    pub round_trip: Summary,
    /// The cycle's compute time (encode, plan, safety).
    pub compute: Summary,
    /// Trigger sample received -> cycle started.
    pub trigger_wait: Summary,
    /// `--echo`: the round trip through a process that only answers (the transport
    /// floor under the latency above).
    pub transport_floor: Option<Summary>,
    pub rate_hz: f64,
    /// How late each cycle started against its schedule.
    pub start_lateness: Summary,
    pub cycles: usize,
    pub overruns: usize,
    /// Resident memory of the node process, KiB: first sample after start-up,
    /// last sample, and the peak (VmHWM).
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub rss_peak_kib: u64,
}

/// Runs the benchmark and prints the figures.
pub fn run(args: Args) -> anyhow::Result<()> {
    let report = bench(&args)?;
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_report(r: &Report) {
    let row = |name: &str, s: &Summary| {
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} |",
            s.count, s.median_ms, s.p99_ms, s.max_ms
        )
    };
    println!("augur bench-node: {} over {}", r.model, r.transport);
    println!("| figure | samples | median ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    row(
        "message in -> command out, excluding planning",
        &r.latency_excluding_planning,
    );
    row("round trip (robot's view)", &r.round_trip);
    row("cycle compute (encode + plan + safety)", &r.compute);
    row("trigger sample -> cycle start", &r.trigger_wait);
    if let Some(floor) = &r.transport_floor {
        row("transport floor: round trip through an echo", floor);
    }
    row(
        &format!("cycle start lateness at {} Hz", r.rate_hz),
        &r.start_lateness,
    );
    println!(
        "rate run: {} cycles, {} overran their period; node RSS {:.1} MiB after start-up, {:.1} MiB at the end, peak {:.1} MiB",
        r.cycles,
        r.overruns,
        r.rss_start_kib as f64 / 1024.0,
        r.rss_end_kib as f64 / 1024.0,
        r.rss_peak_kib as f64 / 1024.0
    );
}

/// The robot side: the plant's participant publishing JointStates for the model's
/// joints and receiving its commands.
struct Robot {
    link: PlantLink,
    commands: crossbeam_channel::Receiver<Instant>,
    joints: Vec<String>,
    /// Camera models: frames of a rod at a few angles, published in turn.
    frames: Vec<Image>,
    sent: std::cell::Cell<u64>,
}

/// `count` rgb8 frames of `width x height` from the pendulum's camera
/// (`plants::render`: what gymnasium draws), at angles a tenth of a turn apart.
fn rod_frames(width: u32, height: u32, count: usize) -> Vec<Image> {
    let mut camera = crate::plants::render::PendulumCamera::new(width, height);
    (0..count)
        .map(|k| {
            let theta = k as f64 * std::f64::consts::TAU / 10.0;
            camera.image(theta, Some(1.0), Time::default())
        })
        .collect()
}

impl Robot {
    /// Publishes the next observation: a state, or the next frame with a new stamp.
    fn publish_next(&self, value: f64) -> anyhow::Result<()> {
        if self.frames.is_empty() {
            return self.publish(value);
        }
        let n = self.sent.get();
        self.sent.set(n + 1);
        let frame = &self.frames[n as usize % self.frames.len()];
        // Stamps 50 ms apart: distinct, so no frame reads as a repeat.
        let ns = (n + 1) * 50_000_000;
        let image = Image {
            header: Header {
                stamp: Time {
                    sec: (ns / 1_000_000_000) as i32,
                    nanosec: (ns % 1_000_000_000) as u32,
                },
                frame_id: "camera".into(),
            },
            ..frame.clone()
        };
        self.link.publish_image(&image)?;
        Ok(())
    }

    fn state(&self, value: f64) -> JointState {
        let n = self.joints.len();
        JointState {
            header: Header::default(),
            name: self.joints.clone(),
            position: vec![value; n],
            velocity: vec![-value; n],
            effort: vec![0.0; n],
        }
    }

    fn publish(&self, value: f64) -> anyhow::Result<()> {
        self.link.publish(&self.state(value))?;
        Ok(())
    }

    /// Publishes until a command comes back, then drains.
    fn wait_for_node(&self) -> anyhow::Result<()> {
        if !self.frames.is_empty() {
            let until = Instant::now() + Duration::from_secs(30);
            let start = self.link.commands_received();
            while self.link.commands_received() == start {
                anyhow::ensure!(
                    Instant::now() < until,
                    "the node did not command within 30 s of the camera publishing"
                );
                self.publish_next(0.0)?;
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_millis(300));
            while self.commands.try_recv().is_ok() {}
            return Ok(());
        }
        self.link.wait_for_commands(
            1,
            Duration::from_secs(30),
            Duration::from_millis(100),
            || Ok(self.link.publish(&self.state(0.1))?),
            || Ok(()),
        )?;
        std::thread::sleep(Duration::from_millis(300));
        while self.commands.try_recv().is_ok() {}
        Ok(())
    }
}

fn bench(args: &Args) -> anyhow::Result<Report> {
    let ros_args: Vec<String> = std::iter::once("--ros-args".to_string())
        .chain(
            args.params
                .iter()
                .flat_map(|p| ["-p".to_string(), p.clone()]),
        )
        .collect();
    let resolved = resolve(&args.model, None, &ros_args)?;
    let map = &resolved.params.observation;
    let camera = map.sources().len() == 1 && map.sources()[0].kind == SourceKind::Image;
    if !camera
        && (map
            .sources()
            .iter()
            .any(|s| s.kind != SourceKind::JointState)
            || map.sources().len() != 1)
    {
        bail!(
            "bench-node drives models with one JointState or one Image source; {} has others",
            args.model.display()
        );
    }
    anyhow::ensure!(
        camera || !args.echo,
        "--echo times camera frames; {} reads no camera",
        args.model.display()
    );
    let frames = if camera {
        rod_frames(args.image.0, args.image.1, 10)
    } else {
        Vec::new()
    };
    let mut joints: Vec<String> = map
        .features()
        .iter()
        .filter_map(|f| match &f.field {
            Field::Joint { joint, .. } => Some(joint.clone()),
            _ => None,
        })
        .collect();
    joints.dedup();
    let work = std::env::temp_dir().join(format!("augur-bench-node-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;

    // Latency: lock-step on the observation trigger; a long period and timeout so no
    // periodic safe command interleaves.
    let latency_recording = work.join("latency.mcap");
    let (robot, node) = start(
        args,
        &resolved.topics.sources[0],
        &resolved.topics.command,
        &joints,
        Trigger::Observation,
        &["period:=1.0".into(), "sensor_timeout:=60.0".into()],
        &latency_recording,
        None,
        &frames,
    )?;
    let mut round_trips = Vec::with_capacity(args.messages);
    for i in 0..args.messages {
        let sent = Instant::now();
        robot.publish_next(((i % 628) as f64) * 0.01 - 3.14)?;
        let received = robot
            .commands
            .recv_timeout(Duration::from_secs(5))
            .with_context(|| format!("no command within 5 s for message {i}"))?;
        round_trips.push(received.saturating_duration_since(sent));
    }
    node.interrupt_and_wait()?;
    drop(robot);
    let cycles = read_cycles(&latency_recording)?;
    // The timed messages are the last `messages` fresh cycles (discovery came first).
    let fresh: Vec<&CycleRecord> = cycles.iter().filter(|c| c.fresh).collect();
    anyhow::ensure!(
        fresh.len() >= args.messages,
        "the node recorded {} triggered cycles for {} messages",
        fresh.len(),
        args.messages
    );
    let timed = &fresh[fresh.len() - args.messages..];
    let ms = |ns: u64| ns as f64 * 1e-6;
    let excluding: Vec<f64> = round_trips
        .iter()
        .zip(timed)
        .map(|(rt, c)| rt.as_secs_f64() * 1e3 - ms(c.compute_ns))
        .collect();

    let transport_floor = if args.echo {
        anyhow::ensure!(
            camera,
            "--echo times camera frames; this model reads no camera"
        );
        Some(Summary::of(echo_round_trips(
            args,
            &resolved.topics.sources[0],
            &resolved.topics.command,
            &frames,
        )?))
    } else {
        None
    };

    // Rate: stream states at twice the control rate; sample the node's memory.
    let rate_recording = work.join("rate.mcap");
    let period = 1.0 / args.rate_hz;
    let rss = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::new()));
    let (robot, node) = start(
        args,
        &resolved.topics.sources[0],
        &resolved.topics.command,
        &joints,
        Trigger::Rate,
        &[format!("period:={period:?}")],
        &rate_recording,
        Some(args.seconds + 1.0),
        &frames,
    )?;
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let rss = rss.clone();
        let running = running.clone();
        let pid = node.pid();
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                if let Some(sample) = memory_kib(pid) {
                    rss.lock().unwrap().push(sample);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let started = Instant::now();
    let mut next = started;
    let mut i = 0u64;
    while started.elapsed().as_secs_f64() < args.seconds {
        robot.publish_next(((i % 628) as f64) * 0.01 - 3.14)?;
        i += 1;
        next += Duration::from_secs_f64(if camera { period } else { period / 2.0 });
        augur_runtime::control::runner::sleep_until(next);
        while robot.commands.try_recv().is_ok() {}
    }
    running.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    node.interrupt_and_wait()?;
    drop(robot);
    let cycles = read_cycles(&rate_recording)?;
    // Skip the first second: discovery and the first plans.
    let skip = (args.rate_hz as usize).min(cycles.len());
    let steady = &cycles[skip..];
    let overruns = read_overruns(&rate_recording, skip)?;
    let rss = rss.lock().unwrap().clone();
    anyhow::ensure!(rss.len() >= 4, "too few memory samples of the node");
    let after_start = rss[rss.len() / 10];
    let _ = std::fs::remove_dir_all(&work);

    Ok(Report {
        model: args.model.display().to_string(),
        transport: format!("{:?}", args.transport).to_lowercase(),
        latency_excluding_planning: Summary::of(excluding),
        round_trip: Summary::of(round_trips.iter().map(|d| d.as_secs_f64() * 1e3).collect()),
        compute: Summary::of(timed.iter().map(|c| ms(c.compute_ns)).collect()),
        trigger_wait: Summary::of(timed.iter().map(|c| ms(c.trigger_wait_ns)).collect()),
        transport_floor,
        rate_hz: args.rate_hz,
        start_lateness: Summary::of(steady.iter().map(|c| ms(c.start_lateness_ns)).collect()),
        cycles: steady.len(),
        overruns,
        rss_start_kib: after_start.0,
        rss_end_kib: rss.last().map_or(0, |s| s.0),
        rss_peak_kib: rss.iter().map(|s| s.1).max().unwrap_or(0),
    })
}

/// Round trips of the frames through `augur-hil transport-echo` instead of the node,
/// ms: the same robot, topics, QoS and transport, nothing done with a frame but
/// decoding it.
fn echo_round_trips(
    args: &Args,
    camera_topic: &str,
    command_topic: &str,
    frames: &[Image],
) -> anyhow::Result<Vec<f64>> {
    let mut options = TransportOptions::local(args.transport, "augur_bench_robot");
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.args([
        "transport-echo",
        "--camera",
        camera_topic,
        "--command",
        command_topic,
    ]);
    command
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        .stdin(std::process::Stdio::piped());
    connect(args.transport, &mut options, &mut command)?;
    let (tx, commands) = bounded(1024);
    let link = PlantLink::open(
        &options,
        "/augur_bench/unused_states",
        Some(command_topic),
        move |command| {
            let _ = tx.try_send(command.received_at);
        },
    )?
    .with_camera(camera_topic)?;
    let mut echo = command.spawn().context("starting the transport echo")?;
    let robot = Robot {
        link,
        commands,
        joints: Vec::new(),
        frames: frames.to_vec(),
        sent: Default::default(),
    };
    let timed = (|| -> anyhow::Result<Vec<f64>> {
        robot.wait_for_node()?;
        let mut round_trips = Vec::with_capacity(args.messages);
        for i in 0..args.messages {
            let sent = Instant::now();
            robot.publish_next(0.0)?;
            let received = robot
                .commands
                .recv_timeout(Duration::from_secs(5))
                .with_context(|| format!("no echo within 5 s for frame {i}"))?;
            round_trips.push(received.saturating_duration_since(sent).as_secs_f64() * 1e3);
        }
        Ok(round_trips)
    })();
    // Closing its standard input ends the echo.
    drop(echo.stdin.take());
    let status = echo.wait()?;
    drop(robot);
    let round_trips = timed?;
    anyhow::ensure!(status.success(), "the transport echo exited with {status}");
    Ok(round_trips)
}

/// Points the child (`command`) at the robot's participant (`options`): over zenoh
/// the robot listens on a free loopback port and the child connects to it.
fn connect(
    transport: TransportKind,
    options: &mut TransportOptions,
    command: &mut std::process::Command,
) -> anyhow::Result<()> {
    match transport {
        TransportKind::Dds => {
            command.args(["--transport", "dds"]);
        }
        TransportKind::Zenoh => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let endpoint = format!("tcp/127.0.0.1:{port}");
            options.zenoh_listen = vec![endpoint.clone()];
            command.args(["--transport", "zenoh", "--zenoh-connect", &endpoint]);
        }
    }
    Ok(())
}

/// Starts the robot participant and the node process, and waits until they talk.
#[allow(clippy::too_many_arguments)]
fn start(
    args: &Args,
    state_topic: &str,
    command_topic: &str,
    joints: &[String],
    trigger: Trigger,
    params: &[String],
    recording: &Path,
    duration: Option<f64>,
    frames: &[Image],
) -> anyhow::Result<(Robot, NodeProcess)> {
    let mut options = TransportOptions::local(args.transport, "augur_bench_robot");
    let mut command = run_command(&args.model, trigger, recording)?;
    connect(args.transport, &mut options, &mut command)?;
    if let Some(seconds) = duration {
        command.args(["--duration", &seconds.to_string()]);
    }
    command.arg("--ros-args");
    for param in args.params.iter().chain(params) {
        command.args(["-p", param]);
    }
    let (tx, commands) = bounded(1024);
    // A camera model's source topic carries frames; the link's JointState publisher
    // then sits on a topic of its own that nobody reads.
    let joints_topic = if frames.is_empty() {
        state_topic
    } else {
        "/augur_bench/unused_states"
    };
    let mut link = PlantLink::open(
        &options,
        joints_topic,
        Some(command_topic),
        move |command| {
            let _ = tx.try_send(command.received_at);
        },
    )?;
    if !frames.is_empty() {
        link = link.with_camera(state_topic)?;
    }
    let node = NodeProcess::spawn(&mut command)?;
    let robot = Robot {
        link,
        commands,
        joints: joints.to_vec(),
        frames: frames.to_vec(),
        sent: Default::default(),
    };
    robot.wait_for_node()?;
    Ok((robot, node))
}

fn read_overruns(path: &Path, skip: usize) -> anyhow::Result<usize> {
    Ok(read_plan_stats(path)?
        .iter()
        .skip(skip)
        .filter(|s| s.deadline_missed)
        .count())
}
