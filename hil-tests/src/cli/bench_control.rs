//! `augur bench-control`: control quality of a model package's node settings, closed
//! loop on the gymnasium-exact pendulum in one process. Each variant is the package
//! defaults (`node.yaml`) with node parameters overridden, exactly as `augur run -p`
//! would take them, so a variant found best here ships as parameters. Every variant
//! runs the same starts (gymnasium's own `reset(seed)` by default), so settings are
//! compared paired, start by start.
//!
//! Reports per variant: the mean return with a 95 % bootstrap interval, the paired
//! difference to the first variant, the mean |Δu| per step while balanced, the
//! steady-state error, tilt and torque of the held pendulum, and encode + plan time.

use std::path::PathBuf;

use anyhow::Context as _;
use augur_bridge_ros2::node::{launch, planner_settings};
use augur_planner::{AnyPlanner, Budget, WorldModel};
use augur_runtime::model::{PrepareOptions, TractWorldModel};
use augur_runtime::resources::load_average;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::closed_loop::{observation_scales, run_pendulum_episode_from, Episode, Starts};
use crate::plants::pendulum::{angle_normalize, DT};
use crate::plot::{time_series_png, Panel, Series};
use crate::quality::{bootstrap_mean, paired_difference, Aggregate, EpisodeQuality, Interval};

/// Arguments of `augur bench-control`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package of the pendulum.
    #[arg(default_value = "models/pendulum")]
    pub package: PathBuf,
    /// A setting to compare: `NAME=PARAM:=VALUE PARAM:=VALUE ...`, node parameters over
    /// the package defaults (e.g. `--variant "cost=command.change_cost:=0.5"`;
    /// `--variant defaults=` is the package as shipped). The first variant is the
    /// baseline of the paired differences. Default: the package defaults alone.
    #[arg(long = "variant")]
    pub variants: Vec<String>,
    /// Episodes per variant: seeds `first-seed .. first-seed + episodes`.
    #[arg(long, default_value_t = 100)]
    pub episodes: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Control periods per episode (gymnasium's 200).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Start states.
    #[arg(long, value_enum, default_value = "gymnasium")]
    pub starts: Starts,
    /// Model transitions per plan for variants whose parameters set no
    /// `max_transitions` (the node's own budget is then its deadline; a transition
    /// budget keeps the comparison deterministic).
    #[arg(long, default_value_t = 2048)]
    pub transitions: u64,
    /// Also write every variant's summary and episodes here, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the angle and torque of one episode per variant into this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Seed of the episode drawn (default: the first seed).
    #[arg(long)]
    pub plot_seed: Option<u64>,
}

/// One variant: a name and its parameter overrides.
#[derive(Debug, Clone, Serialize)]
struct Variant {
    name: String,
    overrides: Vec<String>,
}

fn parse_variant(text: &str) -> anyhow::Result<Variant> {
    let (name, rest) = text.split_once('=').with_context(|| {
        format!("--variant `{text}`: expected NAME=PARAM:=VALUE ... (NAME= for the defaults)")
    })?;
    anyhow::ensure!(!name.trim().is_empty(), "--variant `{text}`: empty name");
    let overrides: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
    if let Some(bad) = overrides.iter().find(|o| !o.contains(":=")) {
        anyhow::bail!("--variant `{text}`: `{bad}` is not PARAM:=VALUE");
    }
    Ok(Variant {
        name: name.trim().to_owned(),
        overrides,
    })
}

/// A variant's results.
#[derive(Debug, Serialize)]
struct Summary {
    variant: Variant,
    planner: String,
    transitions_per_plan: u64,
    mean_return: Interval,
    /// This variant minus the first, start by start.
    paired_difference: Option<Interval>,
    #[serde(flatten)]
    quality: Aggregate,
    median_ms: f64,
    p99_ms: f64,
    episodes: Vec<EpisodeQuality>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.episodes >= 1 && args.steps >= 1,
        "--episodes and --steps must be >= 1"
    );
    args.starts.check(args.first_seed, args.episodes)?;
    let variants = if args.variants.is_empty() {
        vec![Variant {
            name: "defaults".into(),
            overrides: Vec::new(),
        }]
    } else {
        args.variants
            .iter()
            .map(|v| parse_variant(v))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let options = PrepareOptions {
        batch_sizes: vec![1, 8, 16, 24, 32, 64, 128, 192, 256, 384, 512],
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::load(&args.package, &options)?;
    let scales = observation_scales(&model);
    let seeds: Vec<u64> = (args.first_seed..args.first_seed + args.episodes).collect();
    println!(
        "{}: {} variants x {} episodes of {} steps, {:?} starts (seeds {}..{}), load average {}",
        args.package.display(),
        variants.len(),
        seeds.len(),
        args.steps,
        args.starts,
        seeds[0],
        seeds[seeds.len() - 1] + 1,
        load_average()
    );
    let bar = ProgressBar::new(variants.len() as u64 * seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} episodes, eta {eta} {msg}")?
            .progress_chars("=> "),
    );
    let plot_seed = args.plot_seed.unwrap_or(seeds[0]);
    let mut summaries: Vec<Summary> = Vec::new();
    let mut drawn: Vec<(String, Episode)> = Vec::new();
    for variant in &variants {
        bar.set_message(variant.name.clone());
        let ros_args: Vec<String> = variant
            .overrides
            .iter()
            .flat_map(|o| ["-p".to_owned(), o.clone()])
            .collect();
        let resolved = launch::resolve(&args.package, None, &ros_args)
            .with_context(|| format!("variant `{}`", variant.name))?;
        let (config, action) = planner_settings(&resolved.params, &resolved.manifest);
        let transitions = resolved
            .params
            .runner
            .max_transitions
            .unwrap_or(args.transitions);
        let mut planner = AnyPlanner::new(config, action, model.dims())
            .with_context(|| format!("variant `{}`", variant.name))?;
        let mut episodes = Vec::with_capacity(seeds.len());
        let mut times = Vec::new();
        for &seed in &seeds {
            let episode = run_pendulum_episode_from(
                &mut model,
                &scales,
                &mut planner,
                seed,
                args.starts.state(seed),
                args.steps,
                || Budget::transitions(transitions),
            )
            .with_context(|| format!("variant `{}`, seed {seed}", variant.name))?;
            times.extend(episode.steps.iter().map(|s| s.latency));
            episodes.push(EpisodeQuality::of(&episode));
            if seed == plot_seed {
                drawn.push((variant.name.clone(), episode));
            }
            bar.inc(1);
        }
        let summary = summarise(
            variant.clone(),
            resolved.params.planner.clone(),
            transitions,
            episodes,
            &mut times,
            summaries.first(),
        );
        crate::report::progress_line(&bar, row(&summary));
        summaries.push(summary);
    }
    bar.finish_and_clear();
    println!("{}", header());
    for s in &summaries {
        println!("{}", row(s));
    }
    println!("load average {}", load_average());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summaries)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("summary: {}", path.display());
    }
    if let Some(path) = &args.plot {
        draw(path, &args, plot_seed, &drawn)?;
        println!("plot: {}", path.display());
    }
    Ok(())
}

fn summarise(
    variant: Variant,
    planner: String,
    transitions: u64,
    episodes: Vec<EpisodeQuality>,
    times: &mut [std::time::Duration],
    baseline: Option<&Summary>,
) -> Summary {
    let returns: Vec<f64> = episodes.iter().map(|e| e.total_return).collect();
    let mean_return = bootstrap_mean(&returns, 0).expect("at least one episode");
    let paired_difference = baseline.and_then(|b| {
        let base: Vec<f64> = b.episodes.iter().map(|e| e.total_return).collect();
        paired_difference(&base, &returns, 0)
    });
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    Summary {
        planner,
        transitions_per_plan: transitions,
        mean_return,
        paired_difference,
        quality: Aggregate::of(&episodes),
        median_ms: at(0.5),
        p99_ms: at(0.99),
        episodes,
        variant,
    }
}

fn header() -> String {
    format!(
        "{:<16} {:>26} {:>22} {:>9} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "variant",
        "mean return [95% CI]",
        "paired diff [95% CI]",
        "|du| bal",
        "held",
        "ss error",
        "tilt",
        "torque",
        "median",
        "p99"
    )
}

fn row(s: &Summary) -> String {
    let interval = |i: &Interval| format!("{:.1} [{:.1}, {:.1}]", i.mean, i.low, i.high);
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    format!(
        "{:<16} {:>26} {:>22} {:>9} {:>5} {:>9} {:>9} {:>8} {:>5.2} ms {:>5.2} ms",
        s.variant.name,
        interval(&s.mean_return),
        s.paired_difference.as_ref().map_or("-".into(), interval),
        opt(s.quality.mean_balanced_du, 3),
        s.quality.held_episodes,
        opt(s.quality.steady_state_error, 4),
        opt(s.quality.steady_state_tilt, 4),
        opt(s.quality.steady_state_torque, 3),
        s.median_ms,
        s.p99_ms
    )
}

fn draw(
    path: &std::path::Path,
    args: &Args,
    seed: u64,
    drawn: &[(String, Episode)],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !drawn.is_empty(),
        "--plot-seed {seed} is not among the seeds run"
    );
    let series = |f: &dyn Fn(&crate::closed_loop::StepRecord) -> f64| {
        drawn
            .iter()
            .map(|(name, episode)| Series {
                label: name.clone(),
                points: episode
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(t, s)| (t as f64 * DT, f(s)))
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let panels = [
        Panel {
            y_label: "angle θ (rad, 0 upright)".into(),
            series: series(&|s| angle_normalize(s.state.theta)),
            shaded: Vec::new(),
        },
        Panel {
            y_label: "torque (N·m)".into(),
            series: series(&|s| f64::from(s.action)),
            shaded: Vec::new(),
        },
    ];
    let title = format!(
        "{}: seed {seed} ({:?} start), one line per variant",
        args.package.display(),
        args.starts
    );
    time_series_png(path, &title, "time (s)", &panels, 1200, 320)
}
