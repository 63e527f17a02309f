//! `augur eval` end to end on the pendulum: sharded runs merge into the unsharded
//! report bit for bit, the learned simulator and the physics agree on the obvious
//! order of policies, and external ONNX policies of the wrong shape are refused with
//! the tensor named.

use std::path::{Path, PathBuf};

use augur_hil::eval::config::Evaluation;
use augur_hil::eval::policy::load_onnx_policy;
use augur_hil::eval::report::summarise;
use augur_hil::eval::{merge, run_shard, Shard, Tools};
use indicatif::ProgressBar;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// A small evaluation of every policy kind: 3 seeds of 40 steps.
fn small() -> Evaluation {
    let text = r#"
name = "small"
[simulator]
package = "pendulum"
[reference]
plant = "pendulum"
[episodes]
first_seed = 5
seeds = 3
steps = 40
[prediction]
horizon = 12
stride = 10
[[policy]]
name = "zero"
kind = "zero"
[[policy]]
name = "random"
kind = "random"
seed = 3
[[policy]]
name = "prior"
kind = "prior"
[[policy]]
name = "tree-64"
kind = "planner"
planner = "tree"
transitions = 64
[[policy]]
name = "mppi-256"
kind = "planner"
planner = "mppi"
transitions = 256
[[policy]]
name = "sac-20k"
kind = "onnx"
file = "policies/pendulum/sac-20000.onnx"
"#;
    Evaluation::parse(text, models()).expect("the small evaluation parses")
}

#[test]
fn shards_merge_into_the_unsharded_run_bit_for_bit() {
    let eval = small();
    let tools = Tools::from_env();
    let bar = ProgressBar::hidden();
    let whole = run_shard(&eval, Shard::ALL, 2, &tools, &bar).unwrap();
    assert_eq!(whole.cells.len(), 6 * 3);
    let shards: Vec<_> = (1..=4)
        .map(|k| run_shard(&eval, Shard { index: k, count: 4 }, 1, &tools, &bar).unwrap())
        .rev()
        .collect();
    // Uneven shards: each holds a different mix of policies and batch sizes.
    assert!(shards.iter().any(|s| s.cells.len() == 5) && shards.iter().any(|s| s.cells.len() == 4));
    // Through JSON, as `augur eval merge` reads shard files.
    let shards = shards
        .iter()
        .map(|s| serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap())
        .collect();
    let merged = merge(shards).unwrap();
    assert_eq!(merged.cells, whole.cells);
    let a = serde_json::to_string(&summarise(&whole)).unwrap();
    let b = serde_json::to_string(&summarise(&merged)).unwrap();
    assert_eq!(a, b, "merged report differs from the unsharded one");
}

#[test]
fn merge_refuses_missing_duplicate_and_foreign_shards() {
    let eval = small();
    let tools = Tools::from_env();
    let bar = ProgressBar::hidden();
    let cut = |mut e: Evaluation| {
        e.file.policies.truncate(1);
        e.file.episodes.steps = 5;
        e.file.prediction.horizon = 5;
        e
    };
    let eval = cut(eval);
    let one = run_shard(&eval, Shard { index: 1, count: 2 }, 1, &tools, &bar).unwrap();
    let two = run_shard(&eval, Shard { index: 2, count: 2 }, 1, &tools, &bar).unwrap();
    let error = merge(vec![one.clone()]).unwrap_err().to_string();
    assert!(error.contains("shard 2/2 is missing"), "{error}");
    let error = merge(vec![one.clone(), one.clone()])
        .unwrap_err()
        .to_string();
    assert!(error.contains("given twice"), "{error}");
    let mut other = two.clone();
    other.evaluation.episodes.steps = 6;
    let error = merge(vec![one.clone(), other]).unwrap_err().to_string();
    assert!(error.contains("different evaluation"), "{error}");
    assert_eq!(merge(vec![two, one]).unwrap().cells.len(), 3);
}

/// Both worlds see the obvious: doing nothing from gymnasium's starts scores far
/// below the planner and the trained SAC policy, and the simulator's one-step
/// prediction is much better than its 12-step one.
#[test]
fn both_worlds_rank_doing_nothing_last_and_errors_grow_with_horizon() {
    let eval = small();
    let grid = run_shard(
        &eval,
        Shard::ALL,
        2,
        &Tools::from_env(),
        &ProgressBar::hidden(),
    )
    .unwrap();
    let summary = summarise(&grid);
    let by_name = |name: &str| summary.policies.iter().find(|p| p.name == name).unwrap();
    for strong in ["tree-64", "sac-20k"] {
        assert!(
            by_name(strong).reference.mean > by_name("zero").reference.mean + 50.0,
            "{strong} on the physics: {:?} vs zero {:?}",
            by_name(strong).reference,
            by_name("zero").reference
        );
        assert!(
            by_name(strong).learned.mean > by_name("zero").learned.mean + 50.0,
            "{strong} in the learned simulator: {:?} vs zero {:?}",
            by_name(strong).learned,
            by_name("zero").learned
        );
    }
    let rmse = &summary.prediction_error.rmse;
    assert_eq!(rmse.len(), 12);
    assert_eq!(
        summary.prediction_error.features,
        ["cos_theta", "sin_theta", "theta_dot"]
    );
    assert!(rmse[0][2] < rmse[11][2], "θ̇ error does not grow: {rmse:?}");
    // 6 policies x 3 seeds x 4 windows (starts 0, 10, 20, 30) reach the first step;
    // the window at 30 has only 10 steps left.
    assert_eq!(summary.prediction_error.windows[0], 72);
    assert_eq!(summary.prediction_error.windows[11], 54);
    let agreement = summary.rank_correlation.unwrap();
    assert_eq!(agreement.policies, 6);
    assert!(agreement.spearman.is_finite());
}

#[test]
fn an_onnx_policy_of_the_wrong_shape_is_refused_with_the_tensor_named() {
    // Each file loaded as a pendulum policy (3 observations, 1 action): the error
    // must contain every fragment.
    let cases: [(&str, &[&str]); 3] = [
        // bench-1m's encoder reads 8 observations.
        (
            "bench-1m/encoder.onnx",
            &["input `obs`", "expected [batch, 3]"],
        ),
        // The pendulum's encoder reads 3 observations but returns 32 values.
        (
            "pendulum/encoder.onnx",
            &["output `", "expected f32 [1, 1]"],
        ),
        // Not an ONNX file at all.
        ("pendulum/manifest.toml", &["not a readable ONNX graph"]),
    ];
    for (file, fragments) in cases {
        let error = load_onnx_policy(&models().join(file), 3, 1)
            .err()
            .unwrap_or_else(|| panic!("{file} was accepted"))
            .to_string();
        for fragment in fragments {
            assert!(
                error.contains(fragment),
                "{file}: `{fragment}` not in: {error}"
            );
        }
    }
    assert!(load_onnx_policy(&models().join("policies/pendulum/sac-20000.onnx"), 3, 1).is_ok());
}

#[test]
fn the_shipped_evaluation_files_parse() {
    for name in ["pendulum", "reacher"] {
        let path = models().join(format!("evals/{name}.toml"));
        let eval = Evaluation::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert!(eval.simulator_package().join("decoder.onnx").is_file());
    }
    let pendulum = Evaluation::load(&models().join("evals/pendulum.toml")).unwrap();
    assert!(pendulum.file.policies.len() >= 10 && pendulum.file.episodes.seeds >= 20);
}

/// The report a person opens: summary.json with the rank correlation, three PNGs and
/// one self-contained HTML page that embeds them.
#[test]
fn the_report_files_are_written() {
    let mut eval = small();
    eval.file.policies.truncate(3);
    let grid = run_shard(
        &eval,
        Shard::ALL,
        2,
        &Tools::from_env(),
        &ProgressBar::hidden(),
    )
    .unwrap();
    let summary = summarise(&grid);
    let dir = std::env::temp_dir().join(format!("augur-eval-report-{}", std::process::id()));
    let files = augur_hil::eval::report::write(&dir, &grid, &summary, &[]).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.summary).unwrap()).unwrap();
    let spearman = json["rank_correlation"]["spearman"].as_f64().unwrap();
    assert_eq!(spearman, summary.rank_correlation.unwrap().spearman);
    assert_eq!(json["policies"].as_array().unwrap().len(), 3);
    for png in ["returns.png", "returns_best.png", "prediction_error.png"] {
        let bytes = std::fs::read(dir.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 3);
    for name in ["zero", "random", "prior", "Spearman"] {
        assert!(html.contains(name), "{name} missing from the page");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
