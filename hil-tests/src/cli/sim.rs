//! `augur sim pendulum`: the main job on the built-in default. Runs episodes of the
//! gymnasium-exact pendulum from gymnasium's own starts under the package's node
//! settings (`node.yaml`) and the shipped world model, and prints returns, control
//! quality and planning latency.
//!
//! By default the node and the plant are two participants on loopback
//! ([`PendulumBench`]); with `--in-process` the loop runs in one process (plant ->
//! model -> planner -> plant), as fast as planning allows, with the planner built from
//! the same parameters. Over a transport it also writes the node's MCAP, a JSON of
//! every step and a plot.
//!
//! `--pixels` runs the pixel world model (`models/pendulum-pixels`) against the camera
//! plant: the plant publishes the frames gymnasium's renderer draws
//! (`plants::render`) instead of joint states, and the run also writes a strip of
//! what the node saw and imagined in the first episode (`frames.png`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use augur_bridge_ros2::node::{launch, planner_settings};
use augur_bridge_ros2::transport::TransportOptions;
use augur_planner::{AnyPlanner, Budget, PlannerConfig, WorldModel};
use augur_runtime::model::{Manifest, PrepareOptions, TractWorldModel};
use indicatif::{ProgressBar, ProgressStyle};

use crate::closed_loop::{observation_scales, run_pendulum_episode_from, Episode, Starts};
use crate::plants::pendulum::DT;
use crate::plants::render::PendulumCamera;
use crate::quality::{Aggregate, EpisodeQuality};
use crate::sim::PendulumBench;

/// Which planner `sim` uses.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PlannerKind {
    /// Sampled tree search (the default).
    Tree,
    /// TD-MPC2's MPPI.
    Mppi,
}

impl PlannerKind {
    /// The node parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            PlannerKind::Tree => "tree",
            PlannerKind::Mppi => "mppi",
        }
    }
}

/// The shipped configuration of `kind` for the model (see [`Manifest::tree_config`]).
pub(crate) fn planner_config(kind: PlannerKind, manifest: &Manifest) -> PlannerConfig {
    match kind {
        PlannerKind::Tree => PlannerConfig::Tree(manifest.tree_config()),
        PlannerKind::Mppi => PlannerConfig::Mppi(manifest.mppi_config()),
    }
}

/// Model transitions per plan when neither `--transitions` nor the package's
/// `max_transitions` sets a budget (the node would then plan to its deadline).
const FALLBACK_TRANSITIONS: u64 = 2048;

/// Arguments of `augur sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The simulated robot; only `pendulum` so far.
    #[arg(default_value = "pendulum")]
    pub robot: String,
    /// Model package (default: `models/pendulum`, with `--pixels`
    /// `models/pendulum-pixels`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Observe the pendulum through its camera only: the plant publishes gymnasium's
    /// rendered frames (500x500 rgb8) on the model's camera topic, no joint states.
    #[arg(long)]
    pub pixels: bool,
    /// Planner (default: the package's `node.yaml`).
    #[arg(long, value_enum)]
    pub planner: Option<PlannerKind>,
    /// Episodes (seeds 0..N).
    #[arg(long, default_value_t = 5)]
    pub episodes: u64,
    /// Control periods per episode (gymnasium's 200).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Model transitions per plan (default: the package's `max_transitions`, else
    /// 2048), so returns are deterministic.
    #[arg(long)]
    pub transitions: Option<u64>,
    /// Start states: gymnasium's own `reset(seed)` (seeds below 300), upright at rest,
    /// or Augur's portable stream.
    #[arg(long, value_enum, default_value = "gymnasium")]
    pub starts: Starts,
    /// Close the loop in this process without a transport (plant -> model -> planner).
    #[arg(long)]
    pub in_process: bool,
    /// Transport between the node and the plant participant.
    #[arg(long, value_enum, default_value = "dds")]
    pub transport: augur_bridge_ros2::transport::TransportKind,
    /// Step the plant as soon as the command arrives instead of every 50 ms.
    #[arg(long)]
    pub lockstep: bool,
    /// Output folder for the recording and the plot.
    #[arg(long, default_value = "target/augur-sim")]
    pub out: PathBuf,
}

impl Args {
    /// The model package.
    fn model(&self) -> PathBuf {
        self.model.clone().unwrap_or_else(|| {
            PathBuf::from(if self.pixels {
                "models/pendulum-pixels"
            } else {
                "models/pendulum"
            })
        })
    }

    /// Node parameters that `--planner` and `--transitions` override, as `-p` pairs.
    fn overrides(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(planner) = self.planner {
            out.extend(["-p".into(), format!("planner:={}", planner.as_str())]);
        }
        if let Some(n) = self.transitions {
            out.extend(["-p".into(), format!("max_transitions:={n}")]);
        }
        out
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.robot == "pendulum",
        "unknown robot `{}`: the built-in simulation is `pendulum`",
        args.robot
    );
    args.starts.check(0, args.episodes)?;
    let model_dir = args.model();
    let camera = !Manifest::load(&model_dir)?.image.is_empty();
    anyhow::ensure!(
        camera == args.pixels,
        "{} {}: {}",
        model_dir.display(),
        if camera {
            "reads a camera"
        } else {
            "reads joint states"
        },
        if camera {
            "run it with --pixels"
        } else {
            "--pixels needs a model that reads a camera (models/pendulum-pixels)"
        }
    );
    if !args.in_process {
        return run_over_transport(&args, &model_dir);
    }
    anyhow::ensure!(
        !args.pixels,
        "--in-process drives state models; the pixel model runs against the camera plant over a transport (drop --in-process)"
    );
    let resolved = launch::resolve(&model_dir, None, &args.overrides())?;
    let (config, action) = planner_settings(&resolved.params, &resolved.manifest);
    let transitions = resolved
        .params
        .runner
        .max_transitions
        .unwrap_or(FALLBACK_TRANSITIONS);
    let options = PrepareOptions {
        batch_sizes: vec![1, 24, 64, 128, 256, 512],
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::load(&model_dir, &options)?;
    let manifest = model.manifest().clone();
    let scales = observation_scales(&model);
    let mut planner = AnyPlanner::new(config, action, model.dims())?;
    println!(
        "pendulum (gymnasium Pendulum-v1 dynamics, {:?} starts), model {} {}, {} planner, {transitions} transitions per plan",
        args.starts, manifest.model.name, manifest.model.version, resolved.params.planner
    );
    let bar = ProgressBar::new(args.episodes * args.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} steps {msg}")?.progress_chars("=> "),
    );
    let mut episodes = Vec::new();
    let mut plan_times: Vec<Duration> = Vec::new();
    for seed in 0..args.episodes {
        let episode = run_pendulum_episode_from(
            &mut model,
            &scales,
            &mut planner,
            seed,
            args.starts.state(seed),
            args.steps,
            || Budget::transitions(transitions),
        )?;
        bar.inc(args.steps as u64);
        crate::report::progress_line(
            &bar,
            format!("episode {seed:>2}: return {:8.1}", episode.total_return),
        );
        plan_times.extend(episode.steps.iter().map(|s| s.latency));
        episodes.push(episode);
    }
    bar.finish_and_clear();
    plan_times.sort_unstable();
    let quantile = |q: f64| {
        plan_times[((plan_times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
    };
    print_quality(&episodes);
    println!(
        "encode + plan: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    Ok(())
}

/// Prints the mean return and the control quality of `episodes`.
fn print_quality(episodes: &[Episode]) {
    let qualities: Vec<EpisodeQuality> = episodes.iter().map(EpisodeQuality::of).collect();
    let n = qualities.len() as f64;
    println!(
        "mean return {:.1} over {} episodes (Stable-Baselines3's best agents: about -150)",
        qualities.iter().map(|q| q.total_return).sum::<f64>() / n,
        qualities.len()
    );
    let all = Aggregate::of(&qualities);
    if let Some(du) = all.mean_balanced_du {
        println!("while balanced (|θ| < 0.2 rad): torque change {du:.3} N·m per step on average");
    }
    if let (Some(error), Some(tilt), Some(torque)) = (
        all.steady_state_error,
        all.steady_state_tilt,
        all.steady_state_torque,
    ) {
        println!(
            "held upright over the last {} steps in {}/{} episodes: error {error:.4} rad (tilt {tilt:+.4} rad, torque {torque:+.3} N·m)",
            crate::quality::STEADY_STEPS,
            all.held_episodes,
            qualities.len(),
        );
    }
}

/// `augur sim pendulum` over the transport.
fn run_over_transport(args: &Args, model: &std::path::Path) -> anyhow::Result<()> {
    let mut ros_args = vec!["--ros-args".to_string()];
    ros_args.extend(args.overrides());
    let resolved = launch::resolve(model, None, &ros_args)?;
    let planner = resolved.params.planner.clone();
    let budget = match resolved.params.runner.max_transitions {
        Some(n) => format!("{n} transitions per plan"),
        None => "planning to the deadline".to_string(),
    };
    let options = TransportOptions::local(args.transport, "augur");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output folder {}", args.out.display()))?;
    let recording = args.out.join("pendulum.mcap");
    let bench = PendulumBench::start(model, &options, &ros_args, args.lockstep, Some(&recording))?;
    println!(
        "pendulum over {} on loopback: node `augur` ({planner}, {budget}) and plant participant `pendulum_plant` ({}), {}, {:?} starts",
        args.transport,
        if bench.is_camera() {
            "camera: gymnasium's 500x500 frames"
        } else {
            "joint states"
        },
        if args.lockstep { "lock-step" } else { "real time (20 Hz)" },
        args.starts
    );
    let bar = ProgressBar::new(args.episodes * args.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} steps {msg}")?.progress_chars("=> "),
    );
    let mut episodes = Vec::new();
    let mut first_views = None;
    for seed in 0..args.episodes {
        let episode = if bench.is_camera() && seed == 0 {
            let (episode, views) =
                bench.episode_with_views(seed, args.starts.state(seed), args.steps)?;
            first_views = Some(views);
            episode
        } else {
            bench.episode_from(seed, args.starts.state(seed), args.steps)?
        };
        bar.inc(args.steps as u64);
        crate::report::progress_line(
            &bar,
            format!("episode {seed:>2}: return {:8.1}", episode.total_return),
        );
        episodes.push(episode);
    }
    bar.finish_and_clear();
    let d = bench.node().diagnostics();
    bench.stop();
    let mut round_trips: Vec<Duration> = episodes
        .iter()
        .flat_map(|e| e.steps.iter().map(|s| s.latency))
        .collect();
    round_trips.sort_unstable();
    let q = |q: f64| {
        round_trips[((round_trips.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
    };
    print_quality(&episodes);
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
    if let (Some(views), Some(episode)) = (first_views, episodes.first()) {
        let strip = args.out.join("frames.png");
        let input = &resolved.manifest.image[0];
        match write_strip(&strip, episode, &views, input)? {
            0 => println!(
                "no ~/imagined frame arrived (is the package's decoder.onnx there?): {} not written",
                strip.display()
            ),
            rows => println!(
                "wrote {}: {rows} moments of episode 0, the camera, the model's input and its imagined plan against what it then saw",
                strip.display()
            ),
        }
    }
    Ok(())
}

/// Moments of the first episode in the frame strip.
const STRIP_MOMENTS: usize = 6;

/// Writes the frame strip of `episode`: for a few moments, spread over it, the
/// camera frame, the model's input (its stacked frames, as `~/model_view` showed
/// them), the plan it imagined (`~/imagined`, decoded latents) and under it what the
/// model then really saw at those steps (the camera's later frames through the
/// node's preprocessing). Returns the moments drawn (0: no imagined frames came).
fn write_strip(
    path: &std::path::Path,
    episode: &Episode,
    views: &crate::sim::EpisodeViews,
    input: &augur_runtime::model::ImageInput,
) -> anyhow::Result<usize> {
    use crate::plot::{Picture, PictureRow};
    use augur_runtime::control::{frame_to_pixels, Fit, Preprocessor, RawImage};
    let steps = episode.steps.len();
    // Each imagined plan with the step whose cycle made it.
    let imagined: Vec<(usize, &augur_bridge_ros2::msg::Image, std::time::Instant)> = views
        .imagined
        .iter()
        .filter_map(|(image, at)| views.step_of(*at).map(|t| (t, image, *at)))
        .collect();
    let mut chosen = Vec::new();
    for k in 0..STRIP_MOMENTS {
        let target = k * steps / STRIP_MOMENTS;
        if let Some(entry) = imagined
            .iter()
            .find(|(t, _, _)| *t >= target && chosen.iter().all(|(c, _, _)| c < t))
        {
            chosen.push(*entry);
        }
    }
    if chosen.is_empty() {
        return Ok(0);
    }
    let mut camera = PendulumCamera::gymnasium();
    let mut pre = Preprocessor::new(input, Fit::Stretch);
    let mut frame = vec![0.0; pre.frame_len()];
    let mut pixels = Vec::new();
    let channels = input.channels.count() as u32;
    let (w, h) = (input.width as u32, input.height as u32);
    let last_torque =
        |t: usize| (t > 0).then(|| crate::plants::pendulum::clip(episode.steps[t - 1].action));
    // A tile of `n` model-size frames side by side, split into pictures.
    let split = |image: &augur_bridge_ros2::msg::Image, caption: &dyn Fn(usize) -> String| {
        let n = (image.width / w.max(1)) as usize;
        let row_bytes = (w * channels) as usize;
        (0..n)
            .map(|k| {
                let mut data = Vec::with_capacity(row_bytes * h as usize);
                for y in 0..h as usize {
                    let at = y * image.step as usize + k * row_bytes;
                    data.extend_from_slice(image.data.get(at..at + row_bytes).unwrap_or(&[]));
                }
                (data.len() == row_bytes * h as usize).then(|| Picture {
                    width: w,
                    height: h,
                    channels,
                    data,
                    caption: caption(k),
                })
            })
            .collect::<Vec<_>>()
    };
    let mut rows = Vec::new();
    for &(t, plan, at) in &chosen {
        let state = episode.steps[t].state;
        let shot = camera.render(state.theta, last_torque(t)).to_vec();
        let (cw, ch) = camera.size();
        let mut top = vec![Some(Picture {
            width: cw,
            height: ch,
            channels: 3,
            data: shot,
            caption: "camera".into(),
        })];
        let frames = input.frames;
        match views.model_views.iter().rev().find(|(_, v)| *v <= at) {
            Some((view, _)) => top.extend(split(view, &|k| {
                if k + 1 == frames {
                    "model input t".into()
                } else {
                    format!("input t-{}", frames - 1 - k)
                }
            })),
            None => top.extend((0..frames).map(|_| None)),
        }
        let imagined = split(plan, &|k| format!("imagined t+{k}"));
        let horizon = imagined.len();
        top.extend(imagined);
        let mut bottom: Vec<Option<Picture>> = (0..=frames).map(|_| None).collect();
        for k in 0..horizon {
            let Some(step) = episode.steps.get(t + k) else {
                bottom.push(None);
                continue;
            };
            let shot = camera.render(step.state.theta, last_torque(t + k));
            let raw = RawImage {
                height: ch,
                width: cw,
                encoding: "rgb8",
                step: cw * 3,
                data: shot,
            };
            pre.process(&raw, u64::MAX, &mut frame)?;
            frame_to_pixels(input, &frame, &mut pixels);
            bottom.push(Some(Picture {
                width: w,
                height: h,
                channels,
                data: pixels.clone(),
                caption: format!("seen t+{k}"),
            }));
        }
        rows.push(PictureRow {
            label: format!("step {t}"),
            pictures: top,
        });
        rows.push(PictureRow {
            label: "then".into(),
            pictures: bottom,
        });
    }
    crate::plot::pictures_png(
        path,
        &format!(
            "augur sim pendulum --pixels, episode {}: what the node saw and imagined",
            episode.seed
        ),
        &rows,
        96,
    )?;
    Ok(chosen.len())
}

/// Writes every step as JSON and the angle / torque / latency plot.
fn write_outputs(
    episodes: &[Episode],
    json_path: &std::path::Path,
    plot_path: &std::path::Path,
) -> anyhow::Result<()> {
    let json: Vec<serde_json::Value> = episodes
        .iter()
        .map(|e| {
            serde_json::json!({
                "seed": e.seed,
                "return": e.total_return,
                "theta": e.steps.iter().map(|s| s.state.theta).collect::<Vec<_>>(),
                "theta_dot": e.steps.iter().map(|s| s.state.theta_dot).collect::<Vec<_>>(),
                "torque": e.steps.iter().map(|s| f64::from(s.action)).collect::<Vec<_>>(),
                "reward": e.steps.iter().map(|s| s.reward).collect::<Vec<_>>(),
                "predicted_theta": e.steps.iter().map(|s| s.predicted_theta).collect::<Vec<_>>(),
                "round_trip_ms": e.steps.iter().map(|s| s.latency.as_secs_f64() * 1e3).collect::<Vec<_>>(),
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
                augur_runtime::control::observation::wrap_angle(step.state.theta),
            ));
            torque.push((t, f64::from(step.action)));
            latency.push((t, step.latency.as_secs_f64() * 1e3));
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
    let line = |label: &str, points: Vec<(f64, f64)>| crate::plot::Series {
        label: label.into(),
        points,
    };
    let panels = [
        crate::plot::Panel {
            y_label: "angle θ (rad, 0 upright)".into(),
            series: vec![
                line("actual", actual),
                line("predicted one step ahead", predicted),
            ],
            shaded: Vec::new(),
        },
        crate::plot::Panel {
            y_label: "torque (N·m)".into(),
            series: vec![line("command", torque)],
            shaded: Vec::new(),
        },
        crate::plot::Panel {
            y_label: "state → command (ms)".into(),
            series: vec![line("round trip", latency)],
            shaded: Vec::new(),
        },
    ];
    crate::plot::time_series_png(
        plot_path,
        &format!("augur sim pendulum: {} episodes", episodes.len()),
        "time (s, episodes back to back)",
        &panels,
        1200,
        260,
    )
}
