//! Model packages through the tract runtime: the shipped packages reproduce their
//! exported references, compiled artifacts are used only when fresh, and each kind of
//! broken package is refused with an error that names the file, graph and tensor.

mod common;

use std::f32::consts::{FRAC_PI_2, PI};
use std::path::Path;

use augur_planner::{ModelError, WorldModel};
use augur_runtime::model::reference::{compare, Reference};
use augur_runtime::model::{
    GraphRole, GraphSource, Manifest, ModelPackage, PackageError, PrepareOptions, TractWorldModel,
};
use common::{copy_package, edit_manifest, fixture, open_err, package};

fn assert_reproduces_reference(dir: &Path, use_compiled: bool) {
    let package = ModelPackage::open_with(dir, use_compiled).expect("package opens");
    let info = package
        .manifest
        .reference
        .clone()
        .expect("package ships a reference");
    let reference = Reference::load(dir, &info.file).expect("reference loads");
    let options = PrepareOptions {
        batch_sizes: vec![1, 16],
        encoder_batch_sizes: vec![1, 16],
        threads: 1,
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::from_package(&package, &options).expect("model prepares");
    let errors = compare(&mut model, &reference, &dir.join(&info.file)).expect("reference runs");
    let roles: Vec<GraphRole> = errors.iter().map(|e| e.graph).collect();
    assert!(
        roles.contains(&GraphRole::Encoder) && roles.contains(&GraphRole::Dynamics),
        "reference covers {roles:?}"
    );
    for e in &errors {
        // 1e-5 absolute up to magnitude 1, relative above (f32 has no finer resolution there).
        assert!(
            e.max_scaled_error <= 1e-5,
            "{:?} `{}` is off by {:e} (scaled)",
            e.graph,
            e.tensor,
            e.max_scaled_error
        );
    }
}

#[test]
fn pendulum_reproduces_its_exported_reference_within_1e_5() {
    assert_reproduces_reference(&package("pendulum"), false);
}

#[test]
fn bench_1m_reproduces_its_exported_reference_within_1e_5() {
    assert_reproduces_reference(&package("bench-1m"), false);
}

#[test]
fn compiled_graphs_are_used_when_fresh_reproduce_the_reference_and_are_ignored_when_stale() {
    let dir = copy_package("pendulum");
    ModelPackage::open_with(dir.path(), false)
        .expect("opens")
        .compile()
        .expect("compiles");
    let compiled = ModelPackage::open(dir.path()).expect("opens compiled");
    for role in [GraphRole::Encoder, GraphRole::Dynamics] {
        assert_eq!(compiled.source(role), Some(GraphSource::Compiled), "{role}");
    }
    drop(compiled);
    assert_reproduces_reference(dir.path(), true);

    let index = dir.path().join("compiled").join("compiled.toml");
    let text = std::fs::read_to_string(&index).expect("index");
    let stale = text.replacen("source_sha256 = \"", "source_sha256 = \"00", 1);
    std::fs::write(&index, stale).expect("write index");
    let reopened = ModelPackage::open(dir.path()).expect("opens with a stale artifact");
    let sources: Vec<_> = GraphRole::ALL
        .iter()
        .filter_map(|r| reopened.source(*r))
        .collect();
    assert!(
        sources.contains(&GraphSource::Onnx),
        "the stale graph is loaded from ONNX: {sources:?}"
    );
}

/// Gymnasium `Pendulum-v1`'s step (g = 10, m = l = 1, dt 0.05, speed clipped to 8).
fn pendulum_step(theta: f32, theta_dot: f32, torque: f32) -> (f32, f32) {
    let theta_dot = (theta_dot + (15.0 * theta.sin() + 3.0 * torque) * 0.05).clamp(-8.0, 8.0);
    (theta + theta_dot * 0.05, theta_dot)
}

#[test]
fn pendulum_decoder_recovers_encoded_and_one_step_predicted_observations() {
    let options = PrepareOptions {
        batch_sizes: vec![8],
        encoder_batch_sizes: vec![8],
        threads: 1,
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::load(&package("pendulum"), &options).expect("loads");
    assert!(
        model.graph(GraphRole::Decoder).is_some(),
        "pendulum ships a decoder"
    );
    let (l, o) = (model.dims().latent_dim, model.dims().obs_dim);
    let theta = [0.0, PI, FRAC_PI_2, -FRAC_PI_2, 2.5, -1.0, 0.3, -2.9];
    let theta_dot = [0.0, 0.0, 2.0, -2.0, 5.5, -6.0, -3.0, 0.5];
    let torque = [-2.0, 2.0, 0.0, 1.3, -0.7, 2.0, -2.0, 0.25];
    let observe = |th: f32, thd: f32| [th.cos(), th.sin(), thd];
    let raw: Vec<f32> = theta
        .iter()
        .zip(&theta_dot)
        .flat_map(|(&th, &thd)| observe(th, thd))
        .collect();
    let next: Vec<f32> = (0..8)
        .flat_map(|i| {
            let (th, thd) = pendulum_step(theta[i], theta_dot[i], torque[i]);
            observe(th, thd)
        })
        .collect();

    let mut obs = vec![0.0; 8 * o];
    model.normalise_observation(&raw, &mut obs);
    let mut z = vec![0.0; 8 * l];
    model.encode(&obs, &mut z).expect("encodes");
    let (mut z_next, mut reward) = (vec![0.0; 8 * l], vec![0.0; 8]);
    model
        .step(&z, &torque, &mut z_next, &mut reward)
        .expect("steps");

    // Held-out RMSE is 0.005 (cos, sin) and 0.05 rad/s (theta_dot) one step ahead.
    let bound = [0.02, 0.02, 0.1];
    for (latents, truth, what) in [(&z, &raw, "encoded"), (&z_next, &next, "predicted")] {
        let mut decoded = vec![0.0; 8 * o];
        model.decode(latents, &mut decoded).expect("decodes");
        for (row, (got, want)) in decoded
            .chunks_exact(o)
            .zip(truth.chunks_exact(o))
            .enumerate()
        {
            for (j, f) in model.manifest().observation.iter().enumerate() {
                let physical = got[j] * f.std + f.mean;
                assert!(
                    (physical - want[j]).abs() <= bound[j],
                    "{what} row {row} `{}`: decoded {physical}, true {}",
                    f.name,
                    want[j]
                );
            }
        }
    }
}

#[test]
fn a_short_batch_is_padded_and_matches_the_same_rows_of_a_full_batch() {
    let options = PrepareOptions {
        batch_sizes: vec![8],
        encoder_batch_sizes: vec![8],
        threads: 1,
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::load(&package("pendulum"), &options).expect("loads");
    let dims = model.dims();
    let (l, a) = (dims.latent_dim, dims.action_dim);
    let z: Vec<f32> = (0..8 * l).map(|i| ((i as f32) * 0.37).sin()).collect();
    let act: Vec<f32> = (0..8 * a).map(|i| ((i as f32) * 0.91).cos()).collect();
    let (mut z8, mut r8) = (vec![0.0; 8 * l], vec![0.0; 8]);
    model.step(&z, &act, &mut z8, &mut r8).expect("full batch");
    let (mut z3, mut r3) = (vec![0.0; 3 * l], vec![0.0; 3]);
    model
        .step(&z[..3 * l], &act[..3 * a], &mut z3, &mut r3)
        .expect("short batch");
    assert_eq!(z3, z8[..3 * l]);
    assert_eq!(r3, r8[..3]);

    let (mut z9, mut r9) = (vec![0.0; 9 * l], vec![0.0; 9]);
    let z_long: Vec<f32> = z.iter().chain(&z[..l]).copied().collect();
    let a_long: Vec<f32> = act.iter().chain(&act[..a]).copied().collect();
    let err = model
        .step(&z_long, &a_long, &mut z9, &mut r9)
        .expect_err("9 rows exceed the prepared 8");
    assert_eq!(
        err,
        ModelError::BatchTooLarge {
            graph: "dynamics",
            requested: 9,
            max: 8
        }
    );
    let err = model
        .step(&z[..3 * l], &act[..2 * a], &mut z3, &mut r3)
        .expect_err("action rows disagree");
    assert!(
        matches!(
            err,
            ModelError::BadBuffer {
                graph: "dynamics",
                tensor: "action",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_missing_graph_file_is_refused_naming_the_graph_and_path() {
    let dir = copy_package("pendulum");
    std::fs::remove_file(dir.path().join("dynamics.onnx")).expect("remove");
    match open_err(dir.path()) {
        PackageError::MissingGraph { graph, path } => {
            assert_eq!(graph, "dynamics");
            assert!(path.ends_with("dynamics.onnx"), "{}", path.display());
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_truncated_graph_is_refused_as_corrupt_naming_the_file() {
    let dir = copy_package("pendulum");
    let path = dir.path().join("dynamics.onnx");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    match open_err(dir.path()) {
        PackageError::CorruptGraph { graph, path, .. } => {
            assert_eq!(graph, "dynamics");
            assert!(path.ends_with("dynamics.onnx"));
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_graph_whose_dims_disagree_with_the_manifest_is_refused_naming_tensor_and_shapes() {
    let dir = copy_package("pendulum");
    let manifest = package("pendulum").join("manifest.toml");
    let latent = ModelPackage::open_with(&package("pendulum"), false)
        .expect("opens")
        .manifest
        .model
        .latent_dim;
    // Claim a latent one wider than the graphs have, consistently across the manifest.
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let wider = text
        .replace(
            &format!("latent_dim = {latent}"),
            &format!("latent_dim = {}", latent + 1),
        )
        .replace(
            &format!("[\"B\", {latent}]"),
            &format!("[\"B\", {}]", latent + 1),
        );
    std::fs::write(dir.path().join("manifest.toml"), wider).expect("write");
    match open_err(dir.path()) {
        PackageError::TensorMismatch {
            graph,
            tensor,
            expected,
            found,
            ..
        } => {
            assert_eq!(graph, "encoder");
            assert_eq!(tensor, "z");
            assert!(
                expected.contains(&format!("[B, {}]", latent + 1)),
                "{expected}"
            );
            assert!(found.contains(&format!("{latent}]")), "{found}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_graph_with_the_wrong_dtype_is_refused_naming_the_tensor() {
    let dir = copy_package("pendulum");
    std::fs::copy(fixture("encoder_f64.onnx"), dir.path().join("encoder.onnx")).expect("copy");
    match open_err(dir.path()) {
        PackageError::TensorMismatch {
            graph,
            tensor,
            expected,
            found,
            ..
        } => {
            assert_eq!((graph, tensor.as_str()), ("encoder", "obs"));
            assert!(
                expected.contains("f32") && found.contains("F64"),
                "{expected} / {found}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_graph_with_a_fixed_batch_is_refused() {
    let dir = copy_package("pendulum");
    std::fs::copy(
        fixture("encoder_fixed_batch.onnx"),
        dir.path().join("encoder.onnx"),
    )
    .expect("copy");
    match open_err(dir.path()) {
        PackageError::TensorMismatch {
            graph,
            expected,
            found,
            ..
        } => {
            assert_eq!(graph, "encoder");
            assert!(
                expected.contains("symbolic batch") && found.contains("[4,"),
                "{expected} / {found}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_misspelt_manifest_key_is_refused_naming_the_key() {
    let dir = copy_package("pendulum");
    edit_manifest(dir.path(), "latent_dim", "laten_dim");
    match open_err(dir.path()) {
        PackageError::Manifest { path, message } => {
            assert!(path.ends_with("manifest.toml"));
            assert!(message.contains("laten_dim"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_manifest_tensor_name_absent_from_the_graph_is_refused_listing_the_graph_names() {
    let dir = copy_package("pendulum");
    edit_manifest(dir.path(), "name = \"obs\"", "name = \"observation\"");
    match open_err(dir.path()) {
        PackageError::TensorMismatch {
            graph,
            tensor,
            found,
            ..
        } => {
            assert_eq!((graph, tensor.as_str()), ("encoder", "observation"));
            assert!(found.contains("obs"), "{found}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn impossible_action_bounds_are_refused_naming_the_field() {
    let dir = copy_package("pendulum");
    edit_manifest(dir.path(), "low = -2.0", "low = 3.0");
    match open_err(dir.path()) {
        PackageError::Invalid { field, message, .. } => {
            assert!(field.starts_with("action[0]"), "{field}");
            assert!(message.contains("low < high"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_zero_horizon_is_refused_and_the_training_horizon_sets_both_planners() {
    let dir = copy_package("pendulum");
    edit_manifest(dir.path(), "horizon = 5", "horizon = 0");
    match open_err(dir.path()) {
        PackageError::Invalid { field, message, .. } => {
            assert_eq!(field, "model.horizon");
            assert!(message.contains("got 0"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let shipped = Manifest::load(&package("pendulum")).expect("pendulum manifest");
    assert_eq!(shipped.model.horizon, Some(5));
    assert_eq!(shipped.tree_config().horizon, 5);
    assert_eq!(shipped.mppi_config().horizon, 5);
    assert_eq!(shipped.mppi_config().discount, shipped.model.discount);
    // Without one, both keep their own default (TD-MPC2's 3).
    let bench = Manifest::load(&package("bench-1m")).expect("bench-1m manifest");
    assert_eq!(bench.model.horizon, None);
    assert_eq!(bench.tree_config().horizon, 3);
    assert_eq!(bench.mppi_config().horizon, 3);
}

#[test]
fn a_missing_optional_graph_is_reported_absent_not_an_error() {
    let dir = copy_package("pendulum");
    let path = dir.path().join("manifest.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    let start = text.find("[graphs.value]").expect("value section");
    let end = start
        + text[start..]
            .find("[graphs.policy]")
            .expect("policy section follows value");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).expect("write");
    let mut model =
        TractWorldModel::load(dir.path(), &PrepareOptions::default()).expect("loads without value");
    assert!(!model.has_value() && model.has_policy());
    let l = model.dims().latent_dim;
    let err = model
        .value(&vec![0.0; l], &mut [0.0])
        .expect_err("no value graph");
    assert_eq!(err, ModelError::MissingGraph("value"));
}
