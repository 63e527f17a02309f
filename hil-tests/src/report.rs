//! A bench run's report in `<out>/<scenario>/`: `report.json` (scenario, verdict and
//! everything observed), PNG figures (trajectory and commands with the fault windows
//! shaded, cycle-time histogram) and `report.html`, which embeds the figures so the
//! one file can be mailed or attached to CI.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;

use crate::judge::{RunLog, Verdict};
use crate::plot::{histogram_png, time_series_png, Panel, Series};
use crate::scenario::Scenario;

/// Files written for one scenario.
#[derive(Clone, Debug)]
pub struct ReportFiles {
    pub json: PathBuf,
    pub html: PathBuf,
    pub figures: Vec<PathBuf>,
}

/// Writes the report of `scenario` into `dir` (created if missing).
pub fn write_report(
    dir: &Path,
    scenario: &Scenario,
    log: &RunLog,
    verdict: &Verdict,
) -> anyhow::Result<ReportFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = dir.join("report.json");
    let body = serde_json::json!({
        "scenario": scenario,
        "verdict": verdict,
        "run": log,
    });
    std::fs::write(&json, serde_json::to_string_pretty(&body)?)
        .with_context(|| format!("writing {}", json.display()))?;

    let shaded: Vec<(f64, f64)> = log.windows.iter().map(|w| (w.start, w.end)).collect();
    let mut figures = Vec::new();
    let mut panels = Vec::new();
    if !log.trajectory.is_empty() {
        panels.push(Panel {
            y_label: "plant state".into(),
            series: vec![Series {
                label: "angle θ (rad, 0 upright)".into(),
                points: log.trajectory.clone(),
            }],
            shaded: shaded.clone(),
        });
    }
    let dims = log.action_low.len();
    panels.push(Panel {
        y_label: "command at the plant".into(),
        series: (0..dims)
            .map(|i| Series {
                label: format!("command[{i}]"),
                points: log
                    .commands
                    .iter()
                    .map(|c| (c.t, c.values.get(i).copied().unwrap_or(f64::NAN)))
                    .collect(),
            })
            .collect(),
        shaded: shaded.clone(),
    });
    panels.push(Panel {
        y_label: "safe action (node)".into(),
        series: vec![Series {
            label: "faults active (1) / planning (0)".into(),
            points: log
                .cycles
                .iter()
                .map(|c| (c.t, f64::from(u8::from(c.faults != 0))))
                .collect(),
        }],
        shaded,
    });
    let timeline = dir.join("timeline.png");
    time_series_png(
        &timeline,
        &format!("augur hil {}: fault windows shaded", scenario.name),
        "time (s from the start of the run)",
        &panels,
        1200,
        240,
    )?;
    figures.push(timeline);
    if !log.cycles.is_empty() {
        let histogram = dir.join("cycle_time.png");
        let compute: Vec<f64> = log.cycles.iter().map(|c| c.compute_ms).collect();
        histogram_png(
            &histogram,
            &format!(
                "{}: cycle compute time ({} cycles)",
                scenario.name,
                compute.len()
            ),
            "encode + plan + safety (ms)",
            &compute,
            40,
        )?;
        figures.push(histogram);
    }

    let html = dir.join("report.html");
    std::fs::write(&html, html_page(scenario, verdict, log, &figures)?)
        .with_context(|| format!("writing {}", html.display()))?;
    Ok(ReportFiles {
        json,
        html,
        figures,
    })
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Mean of `values`, as text ("-" when empty).
fn mean_text(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    format!("{:.2}", values.iter().sum::<f64>() / values.len() as f64)
}

/// The episode returns: the plant's, and for a learned simulator its own reward
/// head's and the physics pendulum's on the same scenario.
fn returns_table(page: &mut String, log: &RunLog) {
    if log.returns.is_empty() && log.physics_returns.is_empty() {
        return;
    }
    let learned = !log.model_returns.is_empty() || !log.physics_returns.is_empty();
    page.push_str("<h2>Episode returns</h2><table><tr><th>episode</th><th>return</th>");
    if learned {
        page.push_str("<th>simulator's reward head</th><th>physics pendulum</th>");
    }
    page.push_str("</tr>");
    let rows = log.returns.len().max(log.physics_returns.len());
    let cell = |values: &[f64], k: usize| {
        values
            .get(k)
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "-".into())
    };
    for k in 0..rows {
        let _ = write!(page, "<tr><td>{k}</td><td>{}</td>", cell(&log.returns, k));
        if learned {
            let _ = write!(
                page,
                "<td>{}</td><td>{}</td>",
                cell(&log.model_returns, k),
                cell(&log.physics_returns, k)
            );
        }
        page.push_str("</tr>");
    }
    let _ = write!(
        page,
        "<tr><th>mean</th><th>{}</th>",
        mean_text(&log.returns)
    );
    if learned {
        let _ = write!(
            page,
            "<th>{}</th><th>{}</th>",
            mean_text(&log.model_returns),
            mean_text(&log.physics_returns)
        );
    }
    page.push_str("</tr></table>");
}

fn html_page(
    scenario: &Scenario,
    verdict: &Verdict,
    log: &RunLog,
    figures: &[PathBuf],
) -> anyhow::Result<String> {
    let mut page = String::new();
    let status = if verdict.passed { "PASS" } else { "FAIL" };
    // Writing into a String cannot fail.
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>augur hil {name}: {status}</title>\
         <style>body{{font-family:sans-serif;max-width:1240px;margin:1em auto}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}table{{border-collapse:collapse}}\
         .pass{{color:#2a7d2a}}.fail{{color:#c0392b;font-weight:bold}}img{{max-width:100%}}</style></head><body>\
         <h1>augur hil {name}: <span class=\"{class}\">{status}</span></h1><p>{description}</p>\
         <p>plant <b>{plant:?}</b>, model <code>{model}</code>, parameters <code>{params}</code></p>\
         <table><tr><th>rule</th><th>result</th><th>measured</th></tr>",
        name = escape(&scenario.name),
        class = status.to_lowercase(),
        description = escape(&scenario.description),
        plant = scenario.plant,
        model = escape(&scenario.model.display().to_string()),
        params = escape(&scenario.params.join(" ")),
    );
    for r in &verdict.rules {
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(&r.rule),
            if r.passed { "pass" } else { "fail" },
            if r.passed { "pass" } else { "FAIL" },
            escape(&r.detail)
        );
    }
    page.push_str("</table>");
    returns_table(&mut page, log);
    for figure in figures {
        embed_png(&mut page, figure)?;
    }
    page.push_str("</body></html>\n");
    Ok(page)
}

/// Appends the PNG at `path` to `page` as an inline image, so the page stands alone.
pub(crate) fn embed_png(page: &mut String, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let _ = write!(
        page,
        "<p><img alt=\"{}\" src=\"data:image/png;base64,{}\"></p>",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    Ok(())
}

/// Prints `line` above the progress bar, or on its own when the bar is hidden (output
/// to a file or a pipe, where indicatif draws nothing and drops `println`s), so a log
/// shows the progress too.
pub fn progress_line(bar: &indicatif::ProgressBar, line: impl AsRef<str>) {
    if bar.is_hidden() {
        println!("{}", line.as_ref());
    } else {
        bar.println(line);
    }
}
