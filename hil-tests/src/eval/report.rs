//! The evaluation's report: `summary.json` (deterministic: the same file and seeds
//! give the same bytes, sharded or not), `timing.json` (wall times, which are not),
//! `returns.png` (learned against reference return per policy, with intervals),
//! `prediction_error.png` (open-loop error against steps imagined) and `report.html`,
//! one self-contained page with both figures embedded.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::config::{kind_name, EvalFile};
use super::stats::{rank_agreement, RankAgreement};
use super::{ShardFile, UnitTiming};
use crate::plot::{scatter_png, time_series_png, Panel, ScatterPoint, Series};
use crate::quality::{bootstrap_mean, paired_difference, Interval};
use crate::report::{embed_png, escape};

/// The Spearman correlation an evaluation must reach for its simulator to be trusted
/// to rank policies (the bar).
pub const TRUSTED_SPEARMAN: f64 = 0.9;

/// One policy in both worlds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySummary {
    pub name: String,
    pub kind: String,
    /// Mean return on the reference plant, 95 % bootstrap interval.
    pub reference: Interval,
    /// Mean return in the learned simulator.
    pub learned: Interval,
    /// Learned minus reference, seed by seed.
    pub gap: Interval,
    /// 1 = best, in each world (ties share the better rank).
    pub reference_rank: usize,
    pub learned_rank: usize,
    pub reference_returns: Vec<f64>,
    pub learned_returns: Vec<f64>,
}

/// Root-mean-square open-loop error against steps imagined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionError {
    /// Observation features (columns of `rmse`).
    pub features: Vec<String>,
    /// `rmse[k][d]`: feature `d`, `k + 1` steps after the window's start.
    pub rmse: Vec<Vec<f64>>,
    /// Root-mean-square error of the predicted reward, `k + 1` steps ahead.
    pub reward_rmse: Vec<f64>,
    /// Mean predicted minus actual reward, `k + 1` steps ahead (> 0: optimistic).
    pub reward_bias: Vec<f64>,
    /// Windows behind each row of `rmse`.
    pub windows: Vec<u64>,
}

/// The prediction error along one policy's reference episodes, at a few horizons:
/// which policies' states the simulator models worse.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyPrediction {
    pub policy: String,
    /// Steps imagined of each column.
    pub steps: Vec<usize>,
    /// `rmse[j][d]`: feature `d` after `steps[j]` steps.
    pub rmse: Vec<Vec<f64>>,
    pub reward_bias: Vec<f64>,
}

/// The deterministic report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub name: String,
    pub evaluation: EvalFile,
    pub seeds: Vec<u64>,
    pub policies: Vec<PolicySummary>,
    /// How the learned simulator ranks the policies against the reference plant, by
    /// mean return (`spearman`, `kendall`, `pairwise_agreement`).
    pub rank_correlation: Option<RankAgreement>,
    /// Whether Spearman reaches [`TRUSTED_SPEARMAN`].
    pub trusted: bool,
    pub prediction_error: PredictionError,
    pub prediction_by_policy: Vec<PolicyPrediction>,
}

/// Builds the report of a complete grid (`merge`d or unsharded).
pub fn summarise(grid: &ShardFile) -> Summary {
    let file = &grid.evaluation;
    let seeds: Vec<u64> =
        (file.episodes.first_seed..file.episodes.first_seed + file.episodes.seeds).collect();
    let mut policies: Vec<PolicySummary> = file
        .policies
        .iter()
        .enumerate()
        .map(|(p, spec)| {
            let cells: Vec<_> = grid.cells.iter().filter(|c| c.policy == p).collect();
            let reference: Vec<f64> = cells.iter().map(|c| c.reference_return).collect();
            let learned: Vec<f64> = cells.iter().map(|c| c.learned_return).collect();
            PolicySummary {
                name: spec.name.clone(),
                kind: kind_name(spec.kind).to_owned(),
                reference: bootstrap_mean(&reference, 0).expect("every policy has seeds"),
                learned: bootstrap_mean(&learned, 0).expect("every policy has seeds"),
                gap: paired_difference(&reference, &learned, 0).expect("same seeds"),
                reference_rank: 0,
                learned_rank: 0,
                reference_returns: reference,
                learned_returns: learned,
            }
        })
        .collect();
    let reference: Vec<f64> = policies.iter().map(|p| p.reference.mean).collect();
    let learned: Vec<f64> = policies.iter().map(|p| p.learned.mean).collect();
    for p in &mut policies {
        p.reference_rank = 1 + reference.iter().filter(|&&r| r > p.reference.mean).count();
        p.learned_rank = 1 + learned.iter().filter(|&&r| r > p.learned.mean).count();
    }
    let rank_correlation = rank_agreement(&reference, &learned);
    let features = grid.observation.clone();
    let prediction_error = prediction(grid.cells.iter().map(|c| &c.prediction), features.clone());
    let horizon = file.prediction.horizon;
    let columns: Vec<usize> =
        [1, 10, horizon]
            .into_iter()
            .filter(|&k| k <= horizon)
            .fold(Vec::new(), |mut v, k| {
                if !v.contains(&k) {
                    v.push(k);
                }
                v
            });
    let prediction_by_policy = file
        .policies
        .iter()
        .enumerate()
        .map(|(p, spec)| {
            let e = prediction(
                grid.cells
                    .iter()
                    .filter(|c| c.policy == p)
                    .map(|c| &c.prediction),
                features.clone(),
            );
            PolicyPrediction {
                policy: spec.name.clone(),
                rmse: columns.iter().map(|&k| e.rmse[k - 1].clone()).collect(),
                reward_bias: columns.iter().map(|&k| e.reward_bias[k - 1]).collect(),
                steps: columns.clone(),
            }
        })
        .collect();
    Summary {
        name: file.name.clone(),
        evaluation: file.clone(),
        seeds,
        trusted: rank_correlation.is_some_and(|r| r.spearman >= TRUSTED_SPEARMAN),
        rank_correlation,
        policies,
        prediction_error,
        prediction_by_policy,
    }
}

/// Sums cells' prediction errors (in the order given) into root-mean-squares.
fn prediction<'a>(
    cells: impl Iterator<Item = &'a super::PredictionSums>,
    features: Vec<String>,
) -> PredictionError {
    let mut squared: Vec<Vec<f64>> = Vec::new();
    let mut reward_error: Vec<f64> = Vec::new();
    let mut reward_squared: Vec<f64> = Vec::new();
    let mut windows: Vec<u64> = Vec::new();
    for cell in cells {
        let horizon = cell.windows.len();
        squared.resize(horizon, vec![0.0; features.len()]);
        reward_error.resize(horizon, 0.0);
        reward_squared.resize(horizon, 0.0);
        windows.resize(horizon, 0);
        for k in 0..horizon {
            windows[k] += cell.windows[k];
            reward_error[k] += cell.reward_error[k];
            reward_squared[k] += cell.reward_squared[k];
            for (s, c) in squared[k].iter_mut().zip(&cell.squared[k]) {
                *s += c;
            }
        }
    }
    let per = |sum: f64, n: u64| sum / n.max(1) as f64;
    PredictionError {
        rmse: squared
            .iter()
            .zip(&windows)
            .map(|(row, &n)| row.iter().map(|&s| per(s, n).sqrt()).collect())
            .collect(),
        reward_rmse: reward_squared
            .iter()
            .zip(&windows)
            .map(|(&s, &n)| per(s, n).sqrt())
            .collect(),
        reward_bias: reward_error
            .iter()
            .zip(&windows)
            .map(|(&s, &n)| per(s, n))
            .collect(),
        features,
        windows,
    }
}

/// Files of a written report.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub summary: PathBuf,
    pub html: PathBuf,
}

/// Simulator throughput alone (zero actions), rows stepped together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub rows: usize,
    pub steps_per_second: f64,
}

/// Writes the report of `grid` into `dir`.
pub fn write(
    dir: &Path,
    grid: &ShardFile,
    summary: &Summary,
    throughput: &[Throughput],
) -> anyhow::Result<ReportFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let summary_path = dir.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_string_pretty(summary)? + "\n")
        .with_context(|| format!("writing {}", summary_path.display()))?;
    #[derive(Serialize)]
    struct Timing<'a> {
        units: &'a [UnitTiming],
        simulator_alone: &'a [Throughput],
    }
    std::fs::write(
        dir.join("timing.json"),
        serde_json::to_string_pretty(&Timing {
            units: &grid.timing,
            simulator_alone: throughput,
        })? + "\n",
    )?;
    let returns = dir.join("returns.png");
    let points: Vec<ScatterPoint> = summary
        .policies
        .iter()
        .map(|p| ScatterPoint {
            label: p.name.clone(),
            x: (p.reference.low, p.reference.mean, p.reference.high),
            y: (p.learned.low, p.learned.mean, p.learned.high),
        })
        .collect();
    let spearman = summary
        .rank_correlation
        .map_or("-".to_owned(), |r| format!("{:.3}", r.spearman));
    scatter_png(
        &returns,
        &format!(
            "{}: mean return per policy, 95% intervals (Spearman {spearman})",
            summary.name
        ),
        (
            "return on the reference plant",
            "return in the learned simulator",
        ),
        &points,
        (900, 760),
    )?;
    // The better half, zoomed: strong policies crowd one corner of the full plot.
    let best = dir.join("returns_best.png");
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[b].x.1.total_cmp(&points[a].x.1));
    let mut zoomed: Vec<ScatterPoint> = order[..points.len().div_ceil(2)]
        .iter()
        .map(|&i| points[i].clone())
        .collect();
    zoomed.sort_by_key(|p| summary.policies.iter().position(|q| q.name == p.label));
    scatter_png(
        &best,
        &format!("{}: the better half of the policies, zoomed", summary.name),
        (
            "return on the reference plant",
            "return in the learned simulator",
        ),
        &zoomed,
        (900, 760),
    )?;
    let prediction = dir.join("prediction_error.png");
    let curve = |values: &[f64]| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(k, &v)| ((k + 1) as f64, v))
            .collect()
    };
    let panels: Vec<Panel> = summary
        .prediction_error
        .features
        .iter()
        .enumerate()
        .map(|(d, name)| Panel {
            y_label: format!("RMSE of {name}"),
            series: vec![Series {
                label: String::new(),
                points: summary
                    .prediction_error
                    .rmse
                    .iter()
                    .enumerate()
                    .map(|(k, row)| ((k + 1) as f64, row[d]))
                    .collect(),
            }],
            shaded: Vec::new(),
        })
        .chain(std::iter::once(Panel {
            y_label: "reward error".into(),
            series: vec![
                Series {
                    label: "RMSE".into(),
                    points: curve(&summary.prediction_error.reward_rmse),
                },
                Series {
                    label: "bias (predicted - actual)".into(),
                    points: curve(&summary.prediction_error.reward_bias),
                },
            ],
            shaded: Vec::new(),
        }))
        .collect();
    time_series_png(
        &prediction,
        &format!(
            "{}: open-loop error of the learned simulator under the reference's actions",
            summary.name
        ),
        "steps imagined",
        &panels,
        1000,
        200,
    )?;
    let html = dir.join("report.html");
    std::fs::write(
        &html,
        page(summary, grid, throughput, &[returns, best, prediction])?,
    )
    .with_context(|| format!("writing {}", html.display()))?;
    Ok(ReportFiles {
        summary: summary_path,
        html,
    })
}

/// A policy's row: name, kind, the three intervals, both ranks.
fn columns(p: &PolicySummary) -> [String; 7] {
    let interval = |i: &Interval| format!("{:.1} [{:.1}, {:.1}]", i.mean, i.low, i.high);
    [
        p.name.clone(),
        p.kind.clone(),
        interval(&p.reference),
        interval(&p.learned),
        interval(&p.gap),
        p.reference_rank.to_string(),
        p.learned_rank.to_string(),
    ]
}

/// The table printed at the end of a run.
pub fn table(summary: &Summary) -> String {
    let mut out = format!(
        "{:<18} {:<8} {:>28} {:>28} {:>26} {:>5} {:>5}\n",
        "policy",
        "kind",
        "reference return [95% CI]",
        "learned return [95% CI]",
        "gap [95% CI]",
        "rank",
        "rank~"
    );
    for p in &summary.policies {
        let [name, kind, reference, learned, gap, rank, rank_learned] = columns(p);
        let _ = writeln!(
            out,
            "{name:<18} {kind:<8} {reference:>28} {learned:>28} {gap:>26} {rank:>5} {rank_learned:>5}"
        );
    }
    match &summary.rank_correlation {
        Some(r) => {
            let _ = write!(
                out,
                "rank agreement over {} policies: Spearman {:.3}, Kendall {:.3}, pairs ordered alike {:.1} % ({} reversed): {}",
                r.policies,
                r.spearman,
                r.kendall,
                100.0 * r.pairwise_agreement,
                r.discordant_pairs,
                if summary.trusted {
                    format!("trusted to rank (Spearman >= {TRUSTED_SPEARMAN})")
                } else {
                    format!("NOT trusted to rank (Spearman < {TRUSTED_SPEARMAN})")
                }
            );
        }
        None => out.push_str("rank agreement: needs at least two policies"),
    }
    out
}

fn page(
    summary: &Summary,
    grid: &ShardFile,
    throughput: &[Throughput],
    figures: &[PathBuf],
) -> anyhow::Result<String> {
    let mut page = String::new();
    let verdict = if summary.trusted {
        "trusted"
    } else {
        "not trusted"
    };
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>augur eval {name}: {verdict}</title>\
         <style>body{{font-family:sans-serif;max-width:1240px;margin:1em auto}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         table{{border-collapse:collapse}}img{{max-width:100%}}.good{{color:#2a7d2a}}.bad{{color:#c0392b;font-weight:bold}}</style></head><body>\
         <h1>augur eval {name}: <span class=\"{class}\">{verdict}</span> to rank policies</h1>\
         <p>learned simulator <code>{sim}</code> ({rollout:?} rollout) against the reference plant <b>{plant:?}</b>; \
         {seeds} seeds from {first}, {steps} steps per episode.</p>",
        name = escape(&summary.name),
        class = if summary.trusted { "good" } else { "bad" },
        sim = escape(&summary.evaluation.simulator.package.display().to_string()),
        rollout = summary.evaluation.simulator.rollout,
        plant = summary.evaluation.reference.plant,
        seeds = summary.seeds.len(),
        first = summary.evaluation.episodes.first_seed,
        steps = summary.evaluation.episodes.steps,
    );
    if let Some(r) = &summary.rank_correlation {
        let _ = write!(
            page,
            "<p>Spearman <b>{:.3}</b> (bar {TRUSTED_SPEARMAN}), Kendall τ-b {:.3}, policy pairs ordered alike {:.1} % ({} of {} reversed).</p>",
            r.spearman,
            r.kendall,
            100.0 * r.pairwise_agreement,
            r.discordant_pairs,
            r.policies * (r.policies - 1) / 2
        );
    }
    page.push_str(
        "<table><tr><th>policy</th><th>kind</th><th>reference return [95% CI]</th>\
         <th>learned return [95% CI]</th><th>gap [95% CI]</th><th>rank (reference)</th><th>rank (learned)</th></tr>",
    );
    for p in &summary.policies {
        page.push_str("<tr>");
        for cell in columns(p) {
            let _ = write!(page, "<td>{}</td>", escape(&cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
    for figure in figures {
        embed_png(&mut page, figure)?;
    }
    if let Some(first) = summary.prediction_by_policy.first() {
        page.push_str("<h2>Open-loop prediction error along each policy's reference episodes</h2><table><tr><th>policy</th>");
        for &k in &first.steps {
            for name in &summary.prediction_error.features {
                let _ = write!(page, "<th>{} @{k}</th>", escape(name));
            }
            let _ = write!(page, "<th>reward bias @{k}</th>");
        }
        page.push_str("</tr>");
        for p in &summary.prediction_by_policy {
            let _ = write!(page, "<tr><td>{}</td>", escape(&p.policy));
            for (row, bias) in p.rmse.iter().zip(&p.reward_bias) {
                for e in row {
                    let _ = write!(page, "<td>{e:.3}</td>");
                }
                let _ = write!(page, "<td>{bias:+.3}</td>");
            }
            page.push_str("</tr>");
        }
        page.push_str("</table>");
    }
    page.push_str("<h2>Speed</h2><table><tr><th>policy</th><th>world</th><th>episodes</th><th>seconds</th><th>episodes/s</th></tr>");
    for t in &grid.timing {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}</td></tr>",
            escape(&t.policy),
            t.world,
            t.episodes,
            t.seconds,
            t.episodes as f64 / t.seconds.max(1e-9)
        );
    }
    page.push_str("</table>");
    if !throughput.is_empty() {
        page.push_str("<p>learned simulator alone (zero actions, one thread): ");
        let parts: Vec<String> = throughput
            .iter()
            .map(|t| format!("{} rows: {:.0} steps/s", t.rows, t.steps_per_second))
            .collect();
        page.push_str(&parts.join("; "));
        page.push_str("</p>");
    }
    page.push_str("</body></html>\n");
    Ok(page)
}
