//! `augur sim pendulum --pixels` as a user runs it: the pixel model against the camera
//! plant, over DDS on loopback, quietly, with the frame strip of what the node saw and
//! imagined beside the usual outputs. (A test binary of its own: the node's model and
//! decoder loading would compete with the other sims of `clean_output.rs` for the
//! CPU.)

mod common;

use common::{augur, complaints};

#[test]
fn a_clean_pixel_sim_writes_the_frame_strip() {
    let out = std::env::temp_dir().join(format!("augur-clean-pixels-{}", std::process::id()));
    let output = augur(191 + std::process::id() % 8)
        .args([
            "sim",
            "pendulum",
            "--pixels",
            "--episodes",
            "1",
            "--steps",
            "60",
        ])
        .args(["--lockstep", "--out"])
        .arg(&out)
        .output()
        .expect("run augur sim --pixels");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "augur sim --pixels failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("camera: gymnasium's 500x500 frames"),
        "{stdout}"
    );
    assert!(stdout.contains("mean return"), "{stdout}");
    for file in ["pendulum.mcap", "episodes.json", "pendulum.png"] {
        assert!(out.join(file).is_file(), "no {file}");
    }
    let strip = std::fs::read(out.join("frames.png")).expect("frames.png");
    assert_eq!(&strip[1..4], b"PNG");
    // Two rows (seen, imagined) per moment, each 96 + 18 + 6 px, under a 40 px title;
    // columns: the camera, the three stacked input frames and the imagined plan.
    let width = u32::from_be_bytes(strip[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(strip[20..24].try_into().unwrap());
    let rows = (height - 40 - 6) / 120;
    assert!(
        rows >= 4 && rows % 2 == 0 && 40 + rows * 120 + 6 == height,
        "{width}x{height}"
    );
    let columns = (width - 110 - 6) / 102;
    assert!(
        columns >= 6 && 110 + columns * 102 + 6 == width,
        "{width}x{height}"
    );
    let bad = complaints(&stderr);
    assert!(
        bad.is_empty(),
        "augur sim --pixels printed:\n{}",
        bad.join("\n")
    );
    // A state model with --pixels is refused, saying why.
    let output = augur(191 + std::process::id() % 8)
        .args(["sim", "pendulum", "--pixels", "--model", "models/pendulum"])
        .output()
        .expect("run augur sim");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("reads joint states"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}
