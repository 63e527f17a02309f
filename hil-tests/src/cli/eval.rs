//! `augur eval FILE.toml`: rank policies in a learned simulator and against the
//! reference plant, and say whether the simulator can be trusted to rank them;
//! `augur eval merge DIR...`: the same report from shards run anywhere.

use std::path::PathBuf;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::eval::config::Evaluation;
use crate::eval::report::{self, Throughput};
use crate::eval::{self as evaluation, read_shards, Shard, ShardFile, Tools};

/// Arguments of `augur eval`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The evaluation file (TOML; see docs/evaluation.md).
    pub file: Option<PathBuf>,
    /// Directory of the report (default: target/augur-eval/NAME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only slice K of N of the (policy, seed) grid (1 <= K <= N) and write
    /// `shard-K-of-N.json`; `augur eval merge` makes the report.
    #[arg(long)]
    pub shard: Option<String>,
    /// Worker threads (each runs whole policies in one world).
    #[arg(long, default_value_t = default_jobs())]
    pub jobs: usize,
    /// Skip the simulator-alone throughput measurement.
    #[arg(long)]
    pub no_throughput: bool,
}

/// `augur eval merge`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Combine shard files (or directories of them) into the report of the whole grid.
    Merge {
        /// Shard files, or directories holding `shard-K-of-N.json`.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Directory of the report (default: target/augur-eval/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn default_out(name: &str) -> PathBuf {
    PathBuf::from("target/augur-eval").join(name)
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Command::Merge { shards, out }) = args.command {
        let grid = evaluation::merge(read_shards(&shards)?)?;
        let out = out.unwrap_or_else(|| default_out(&grid.evaluation.name));
        return finish(&out, &grid, &[]);
    }
    let file = args
        .file
        .context("give an evaluation file (augur eval FILE.toml) or `augur eval merge DIR...`")?;
    let eval = Evaluation::load(&file)?;
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()?
        .unwrap_or(Shard::ALL);
    let out = args.out.unwrap_or_else(|| default_out(&eval.file.name));
    let tools = Tools::from_env();
    let f = &eval.file;
    println!(
        "{}: {} policies x {} seeds x {} steps in both worlds (learned simulator {}, reference {:?}){}, {} threads",
        file.display(),
        f.policies.len(),
        f.episodes.seeds,
        f.episodes.steps,
        eval.simulator_package().display(),
        f.reference.plant,
        if shard == Shard::ALL {
            String::new()
        } else {
            format!(", shard {}/{}", shard.index, shard.count)
        },
        args.jobs
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "[{bar:40}] {pos}/{len} episodes, {elapsed} elapsed, eta {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let result = evaluation::run_shard(&eval, shard, args.jobs, &tools, &bar)?;
    bar.finish_and_clear();
    println!(
        "{} episodes in {:.1} s",
        2 * result.cells.len(),
        started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let shard_path = out.join(ShardFile::file_name(shard));
    std::fs::write(&shard_path, serde_json::to_string(&result)? + "\n")
        .with_context(|| format!("writing {}", shard_path.display()))?;
    if shard != Shard::ALL {
        println!(
            "shard {}/{}: {}; when every shard has run: augur eval merge DIR...",
            shard.index,
            shard.count,
            shard_path.display()
        );
        return Ok(());
    }
    let throughput = if args.no_throughput {
        Vec::new()
    } else {
        evaluation::simulator_throughput(&eval, &tools, &[1, 20, 200, 512], 200)?
    };
    finish(&out, &result, &throughput)
}

fn finish(
    out: &std::path::Path,
    grid: &ShardFile,
    throughput: &[Throughput],
) -> anyhow::Result<()> {
    let summary = report::summarise(grid);
    println!("{}", report::table(&summary));
    let errors = &summary.prediction_error;
    for k in [1, 5, 10, 25, 50] {
        if let Some(row) = errors.rmse.get(k - 1) {
            let parts: Vec<String> = errors
                .features
                .iter()
                .zip(row)
                .map(|(name, e)| format!("{name} {e:.3}"))
                .collect();
            println!("open-loop RMSE after {k:>2} steps: {}", parts.join(", "));
        }
    }
    for t in throughput {
        println!(
            "learned simulator alone, {} rows: {:.0} steps/s",
            t.rows, t.steps_per_second
        );
    }
    let files = report::write(out, grid, &summary, throughput)?;
    println!(
        "summary: {}\nreport: {}",
        files.summary.display(),
        files.html.display()
    );
    Ok(())
}
