//! Criterion benchmarks of the camera path: one frame preprocessed into the model's
//! input (check, area resample, grey, normalise) from the sizes cameras send, and the
//! frame stack's hand-off. `cargo bench -p augur-runtime --bench image`.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use augur_runtime::control::{frame_slot, Fit, ImageFeed, Preprocessor, RawImage};
use augur_runtime::model::Manifest;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The image input of the shipped pixel pendulum (64x64 grey, 3 frames).
fn pixel_input() -> augur_runtime::model::ImageInput {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum-pixels");
    let manifest = Manifest::load(&dir).expect("manifest");
    manifest.image[0].clone()
}

fn frame(width: u32, height: u32, bpp: usize) -> Vec<u8> {
    (0..width as usize * height as usize * bpp)
        .map(|i| (i * 2654435761usize >> 13) as u8)
        .collect()
}

fn preprocess(c: &mut Criterion) {
    let input = pixel_input();
    let mut group = c.benchmark_group("preprocess");
    for (width, height, encoding, fit) in [
        (500, 500, "rgb8", Fit::Stretch),
        (1280, 720, "rgb8", Fit::CenterCrop),
        (1280, 720, "bgra8", Fit::CenterCrop),
        (640, 480, "mono8", Fit::Stretch),
    ] {
        let bpp = match encoding {
            "bgra8" => 4,
            "mono8" => 1,
            _ => 3,
        };
        let data = frame(width, height, bpp);
        let mut pre = Preprocessor::new(&input, fit);
        let mut out = vec![0.0f32; input.frame_len()];
        let raw = RawImage {
            height,
            width,
            encoding,
            step: width * bpp as u32,
            data: &data,
        };
        group.bench_function(
            BenchmarkId::from_parameter(format!("{width}x{height} {encoding} {fit:?}")),
            |b| {
                b.iter(|| {
                    pre.process(black_box(&raw), u64::MAX, &mut out).unwrap();
                    black_box(&out);
                })
            },
        );
    }
    group.finish();

    // The hand-off and the stack: ingest publishes, the control thread stacks.
    let (mut sender, receiver) = frame_slot(input.frame_len());
    let mut feed = ImageFeed::new(&input, receiver);
    c.bench_function("frame hand-off + stack (3 x 64x64)", |b| {
        b.iter(|| {
            sender.publish(Instant::now());
            feed.update();
            black_box(feed.input());
        })
    });
}

criterion_group!(benches, preprocess);
criterion_main!(benches);
