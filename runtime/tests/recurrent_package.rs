//! Recurrent (Dreamer-style RSSM) packages: the shipped ones reproduce their
//! references on both executors, the trained filter carries what one observation does
//! not show, and broken recurrent packages are refused naming the file, graph, field
//! or tensor.

mod common;

use augur_planner::WorldModel;
use augur_runtime::model::reference::{compare, Reference};
use augur_runtime::model::{Executor, GraphRole, PackageError, PrepareOptions, TractWorldModel};
use common::{copy_package, edit_manifest, fixture, open_err, package};

fn load(name: &str, executor: Executor) -> TractWorldModel {
    let options = PrepareOptions {
        batch_sizes: vec![1, 64],
        encoder_batch_sizes: vec![1, 64],
        executor,
        ..PrepareOptions::default()
    };
    TractWorldModel::load(&package(name), &options).expect("package loads")
}

#[test]
fn the_recurrent_packages_reproduce_their_references_on_both_executors() {
    for name in ["pendulum-rssm", "bench-rssm"] {
        for executor in [Executor::Mlp, Executor::Tract] {
            let mut model = load(name, executor);
            assert!(model.is_recurrent(), "{name}");
            assert!(model.graph(GraphRole::Encoder).is_none());
            let uses_mlp = model
                .graph(GraphRole::Filter)
                .expect("a filter graph")
                .uses_mlp_executor();
            assert_eq!(uses_mlp, executor == Executor::Mlp, "{name} {executor:?}");
            let info = model.manifest().reference.clone().expect("a reference");
            let reference = Reference::load(&package(name), &info.file).expect("reference");
            let errors =
                compare(&mut model, &reference, &package(name).join(&info.file)).expect("compare");
            assert!(errors.iter().any(|e| e.graph == GraphRole::Filter));
            for e in errors {
                assert!(
                    e.max_scaled_error <= 1e-5,
                    "{name} {executor:?} {}.{}: {}",
                    e.graph,
                    e.tensor,
                    e.max_scaled_error
                );
            }
        }
    }
}

/// Filters `steps` angles of a pendulum turning at `theta_dot` (rad/s) and ending at
/// angle 0.3, from the initial state, and returns the filtered state.
fn filter_spin(model: &mut TractWorldModel, theta_dot: f32) -> Vec<f32> {
    let dims = model.dims();
    let (mut z, mut z_prev) = (vec![0.0; dims.latent_dim], vec![0.0; dims.latent_dim]);
    let steps = 8;
    for k in 0..steps {
        let theta = 0.3 - theta_dot * 0.05 * (steps - 1 - k) as f32;
        let obs = [theta.cos(), theta.sin()];
        std::mem::swap(&mut z, &mut z_prev);
        let first = [if k == 0 { 1.0 } else { 0.0 }];
        model
            .filter(&z_prev, &[0.0], &obs, &first, &mut z)
            .expect("filter");
    }
    z
}

#[test]
fn the_trained_filter_carries_the_velocity_that_one_angle_does_not_show() {
    let mut model = load("pendulum-rssm", Executor::Mlp);
    // The same last angle, reached turning either way: a memoryless model would see
    // the same observation; the filtered states, and what the policy does there, differ.
    let (cw, ccw) = (filter_spin(&mut model, -3.0), filter_spin(&mut model, 3.0));
    let gap: f32 = cw.iter().zip(&ccw).map(|(a, b)| (a - b).abs()).sum();
    assert!(gap > 1.0, "states differ by only {gap}");
    let (mut m1, mut m2, mut s) = ([0.0], [0.0], [0.0]);
    model.policy(&cw, &mut m1, &mut s).expect("policy");
    model.policy(&ccw, &mut m2, &mut s).expect("policy");
    // Turning towards upright at +3 rad/s from 0.3 rad past it (ccw) needs braking the
    // other way from turning away from it: the policy's torques have opposite signs.
    assert!(
        m1[0] * m2[0] < 0.0 && (m1[0] - m2[0]).abs() > 1.0,
        "policy means {} and {}",
        m1[0],
        m2[0]
    );
}

#[test]
fn a_filter_from_another_model_is_refused_naming_the_graph_tensor_and_widths() {
    let dir = copy_package("pendulum-rssm");
    std::fs::copy(
        package("bench-rssm").join("filter.onnx"),
        dir.path().join("filter.onnx"),
    )
    .expect("copy");
    match open_err(dir.path()) {
        PackageError::TensorMismatch {
            graph,
            path,
            tensor,
            expected,
            found,
        } => {
            assert_eq!(graph, "filter");
            assert!(path.ends_with("filter.onnx"), "{}", path.display());
            assert_eq!(tensor, "z_prev");
            assert!(
                expected.contains("96") && found.contains("640"),
                "{expected} / {found}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn inconsistent_recurrent_manifests_are_refused_naming_the_field() {
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "[graphs.filter]",
            "[graphs.encoder]",
            "graphs.filter",
            "is missing",
        ),
        (
            "deter = 64",
            "deter = 60",
            "state",
            "must be the latent width",
        ),
        (
            "stoch = { groups = 4, classes = 8 }",
            "stoch = { groups = 32, classes = 1 }",
            "state.stoch",
            "classes >= 2",
        ),
        ("[state]", "[ignored]", "", "unknown field `ignored`"),
        (
            "prior = \"mean\"",
            "prior = \"sample\"",
            "",
            "unknown variant `sample`",
        ),
    ];
    for (from, to, field, message) in cases {
        let dir = copy_package("pendulum-rssm");
        edit_manifest(dir.path(), from, to);
        let err = open_err(dir.path());
        let text = err.to_string();
        assert!(text.contains("manifest.toml"), "{text}");
        assert!(text.contains(message), "{from} -> {to}: {text}");
        if !field.is_empty() {
            match err {
                PackageError::Invalid { field: f, .. } => assert_eq!(f, field, "{text}"),
                other => panic!("{from} -> {to}: unexpected error: {other}"),
            }
        }
    }
}

#[test]
fn a_filter_without_a_state_or_beside_an_encoder_is_refused() {
    // A memoryless package with a filter graph declared.
    let dir = copy_package("pendulum");
    let text = std::fs::read_to_string(dir.path().join("manifest.toml")).unwrap();
    let filter = "[graphs.filter]\nfile = \"encoder.onnx\"\ninputs = [{ name = \"obs\", shape = [\"B\", 3] }]\noutputs = [{ name = \"z\", shape = [\"B\", 32] }]\n\n";
    let with_filter = text.replacen(
        "[graphs.dynamics]",
        &format!("{filter}[graphs.dynamics]"),
        1,
    );
    std::fs::write(dir.path().join("manifest.toml"), with_filter).unwrap();
    match open_err(dir.path()) {
        PackageError::Invalid { field, message, .. } => {
            assert_eq!(field, "graphs.filter");
            assert!(message.contains("no `[state]`"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }

    // A recurrent package that also declares an encoder.
    let dir = copy_package("pendulum-rssm");
    let text = std::fs::read_to_string(dir.path().join("manifest.toml")).unwrap();
    let encoder = "[graphs.encoder]\nfile = \"decoder.onnx\"\ninputs = [{ name = \"obs\", shape = [\"B\", 2] }]\noutputs = [{ name = \"z\", shape = [\"B\", 96] }]\n\n";
    let with_encoder = text.replacen("[graphs.filter]", &format!("{encoder}[graphs.filter]"), 1);
    std::fs::write(dir.path().join("manifest.toml"), with_encoder).unwrap();
    match open_err(dir.path()) {
        PackageError::Invalid { field, message, .. } => {
            assert_eq!(field, "graphs.encoder");
            assert!(message.contains("beside a `filter` graph"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }

    // The filter's file is gone.
    let dir = copy_package("pendulum-rssm");
    std::fs::remove_file(dir.path().join("filter.onnx")).unwrap();
    match open_err(dir.path()) {
        PackageError::MissingGraph { graph, path } => {
            assert_eq!(graph, "filter");
            assert!(path.ends_with("filter.onnx"));
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_gru_op_filter_runs_on_tract_and_reproduces_its_reference() {
    // A tiny RSSM whose GRU is ONNX's `GRU` op (torch's nn.GRU), not a hand-built cell.
    let dir = fixture("rssm-gru-op");
    let options = |executor| PrepareOptions {
        batch_sizes: vec![1, 64],
        encoder_batch_sizes: vec![1, 64],
        executor,
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::load(&dir, &options(Executor::Auto)).expect("loads");
    let filter = model.graph(GraphRole::Filter).expect("filter");
    assert!(!filter.uses_mlp_executor(), "the GRU op runs on tract");
    let info = model.manifest().reference.clone().expect("reference");
    let reference = Reference::load(&dir, &info.file).expect("reference");
    let errors = compare(&mut model, &reference, &dir.join(&info.file)).expect("compare");
    assert!(errors.iter().any(|e| e.graph == GraphRole::Filter));
    for e in errors {
        assert!(
            e.max_scaled_error <= 1e-5,
            "{}.{}: {}",
            e.graph,
            e.tensor,
            e.max_scaled_error
        );
    }
    match TractWorldModel::load(&dir, &options(Executor::Mlp)) {
        Err(PackageError::Unsupported { graph, message, .. }) => {
            // The first op outside its set is named (torch wraps the GRU op in
            // Unsqueeze/Squeeze, which come first).
            assert_eq!(graph, "filter");
            assert!(
                message.contains("not supported by the fast executor"),
                "{message}"
            );
        }
        other => panic!("the MLP executor must refuse the GRU op: {other:?}"),
    }
}
