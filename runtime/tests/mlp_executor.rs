//! The MLP executor against tract on every graph of the shipped packages: same outputs
//! within 1e-4 of the output scale, the same bits on repeated calls, and a graph
//! outside its op set refused with the op named (and run by tract under `Auto`).

use std::path::{Path, PathBuf};

use augur_planner::WorldModel;
use augur_runtime::model::{
    Executor, GraphRole, ModelPackage, PackageError, PrepareOptions, TractWorldModel,
};

fn package(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(name)
}

/// Most rows per call: 512 (8 blocks of 64). Under qemu (the aarch64 run) emulated
/// tract takes minutes per call at 512 bench-1m rows (it pads every call to its
/// prepared batch), so 70 rows (a block and a remainder) stand in.
const MAX_ROWS: usize = if cfg!(target_arch = "x86_64") {
    512
} else {
    70
};

fn load(name: &str, executor: Executor) -> TractWorldModel {
    let options = PrepareOptions {
        batch_sizes: vec![MAX_ROWS],
        encoder_batch_sizes: vec![MAX_ROWS],
        threads: 1,
        executor,
    };
    TractWorldModel::load(&package(name), &options).expect("package loads")
}

/// Deterministic values spread over [-2, 2].
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect()
}

/// Every output of every graph of `model` for `n` rows, concatenated per graph.
fn all_outputs(model: &mut TractWorldModel, n: usize, seed: u64) -> Vec<(GraphRole, Vec<f32>)> {
    let d = model.dims();
    let (l, a, o) = (d.latent_dim, d.action_dim, d.obs_dim);
    let obs = noise(n * o, seed);
    // Latents from the encoder itself, so they lie on its simplex like real ones.
    let mut z = vec![0.0; n * l];
    model.encode(&obs, &mut z).expect("encode");
    let action: Vec<f32> = noise(n * a, seed + 1).iter().map(|v| v / 2.0).collect();
    let mut out = vec![(GraphRole::Encoder, z.clone())];
    let (mut z_next, mut reward) = (vec![0.0; n * l], vec![0.0; n]);
    model
        .step(&z, &action, &mut z_next, &mut reward)
        .expect("step");
    out.push((GraphRole::Dynamics, [z_next, reward].concat()));
    if model.has_value() {
        let mut v = vec![0.0; n];
        model.value(&z, &mut v).expect("value");
        out.push((GraphRole::Value, v));
    }
    if model.has_policy() {
        let (mut mean, mut log_std) = (vec![0.0; n * a], vec![0.0; n * a]);
        model.policy(&z, &mut mean, &mut log_std).expect("policy");
        out.push((GraphRole::Policy, [mean, log_std].concat()));
    }
    if model.has_decoder() {
        let mut x = vec![0.0; n * o];
        model.decode(&z, &mut x).expect("decode");
        out.push((GraphRole::Decoder, x));
    }
    out
}

fn assert_matches_tract(name: &str) {
    let mut tract = load(name, Executor::Tract);
    let mut mlp = load(name, Executor::Mlp);
    for (n, seed) in [(1, 1), (7, 2), (64, 3), (MAX_ROWS, 4)] {
        let want = all_outputs(&mut tract, n, seed);
        let got = all_outputs(&mut mlp, n, seed);
        assert_eq!(want.len(), got.len());
        for ((role, w), (_, g)) in want.iter().zip(&got) {
            let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let worst = w
                .iter()
                .zip(g)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "{name} {role:?} at {n} rows: max diff {worst:e} for output scale {scale}"
            );
        }
    }
}

#[test]
fn mlp_executor_matches_tract_on_every_pendulum_graph_within_1e_4_of_scale() {
    assert_matches_tract("pendulum");
}

#[test]
fn mlp_executor_matches_tract_on_every_bench_1m_graph_within_1e_4_of_scale() {
    assert_matches_tract("bench-1m");
}

#[test]
fn mlp_executor_gives_the_same_bits_on_repeated_calls_and_row_counts() {
    let mut mlp = load("bench-1m", Executor::Mlp);
    let first = all_outputs(&mut mlp, 64, 9);
    let _ = all_outputs(&mut mlp, MAX_ROWS, 10);
    let again = all_outputs(&mut mlp, 64, 9);
    for ((role, a), (_, b)) in first.iter().zip(&again) {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{role:?} changed between identical calls");
    }
}

#[test]
fn auto_runs_every_shipped_graph_on_the_mlp_executor() {
    for name in ["pendulum", "bench-1m"] {
        let model = load(name, Executor::Auto);
        for role in [
            GraphRole::Encoder,
            GraphRole::Dynamics,
            GraphRole::Value,
            GraphRole::Policy,
            GraphRole::Decoder,
        ] {
            if let Some(graph) = model.graph(role) {
                assert!(graph.uses_mlp_executor(), "{name} {role:?} runs on tract");
            }
        }
        let tract = load(name, Executor::Tract);
        assert!(!tract
            .graph(GraphRole::Dynamics)
            .unwrap()
            .uses_mlp_executor());
    }
}

#[test]
fn a_graph_outside_the_op_set_is_refused_naming_the_op_and_auto_falls_back_to_tract() {
    // The pendulum package with an encoder whose hidden activation is Erf.
    let dir = tempfile::tempdir().expect("temporary folder");
    for entry in std::fs::read_dir(package("pendulum")).expect("package folder") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encoder_erf.onnx");
    std::fs::copy(fixture, dir.path().join("encoder.onnx")).expect("copy fixture");
    let package = ModelPackage::open_with(dir.path(), false).expect("package opens");
    let options = |executor| PrepareOptions {
        batch_sizes: vec![8],
        encoder_batch_sizes: vec![8],
        threads: 1,
        executor,
    };
    let err = TractWorldModel::from_package(&package, &options(Executor::Mlp)).unwrap_err();
    match &err {
        PackageError::Unsupported { graph, message, .. } => {
            assert_eq!(*graph, "encoder");
            assert!(message.contains("op `Erf` not supported"), "{message}");
        }
        other => panic!("expected Unsupported, got {other}"),
    }
    let auto = TractWorldModel::from_package(&package, &options(Executor::Auto)).expect("auto");
    assert!(!auto.graph(GraphRole::Encoder).unwrap().uses_mlp_executor());
    assert!(auto.graph(GraphRole::Dynamics).unwrap().uses_mlp_executor());
}

#[test]
fn mlp_convolution_matches_tract_with_padding_strides_and_non_square_kernels() {
    use augur_runtime::model::mlp::MlpGraph;
    use tract_onnx::prelude::*;

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conv_padded.onnx");
    let width = 2 * 9 * 11;
    let mut mlp = MlpGraph::from_onnx(&path, &[("x", width)], &[("y", 5)], 8).expect("lowers");
    for (n, seed) in [(1usize, 5u64), (3, 6), (8, 7)] {
        let x = noise(n * width, seed);
        let tract = tract_onnx::onnx()
            .model_for_path(&path)
            .unwrap()
            .with_input_fact(0, f32::fact([n, 2, 9, 11]).into())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let input = Tensor::from_shape(&[n, 2, 9, 11], &x).unwrap();
        let want = tract.run(tvec!(input.into())).unwrap();
        let want = want[0].to_plain_array_view::<f32>().unwrap();
        let mut got = vec![0.0f32; n * 5];
        mlp.run(n, &[&x], &mut [&mut got]).unwrap();
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (w, g) in want.iter().zip(&got) {
            assert!(
                (w - g).abs() <= 1e-5 * scale,
                "{n} rows: tract {w}, mlp {g} (scale {scale})"
            );
        }
    }
}

#[test]
fn the_pixel_encoder_runs_on_the_mlp_executor_and_matches_tract() {
    let options = |executor| PrepareOptions {
        batch_sizes: vec![16],
        encoder_batch_sizes: vec![16],
        threads: 1,
        executor,
    };
    let dir = package("pendulum-pixels");
    let mut tract = TractWorldModel::load(&dir, &options(Executor::Tract)).unwrap();
    let mut mlp = TractWorldModel::load(&dir, &options(Executor::Auto)).unwrap();
    assert!(mlp.graph(GraphRole::Encoder).unwrap().uses_mlp_executor());
    let (image_dim, l) = (mlp.image_dim(), mlp.dims().latent_dim);
    for (n, seed) in [(1usize, 11u64), (5, 12), (16, 13)] {
        // Pixels normalised as the manifest declares: x / 255 - 0.5, in [-0.5, 0.5].
        let image: Vec<f32> = noise(n * image_dim, seed).iter().map(|v| v / 4.0).collect();
        let (mut want, mut got) = (vec![0.0; n * l], vec![0.0; n * l]);
        tract.encode_image(&image, &[], &mut want).unwrap();
        mlp.encode_image(&image, &[], &mut got).unwrap();
        let worst = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "{n} rows: max diff {worst:e}");
        let mut again = vec![0.0; n * l];
        mlp.encode_image(&image, &[], &mut again).unwrap();
        assert!(got
            .iter()
            .zip(&again)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
