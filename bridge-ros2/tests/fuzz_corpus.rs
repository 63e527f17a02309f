//! The fuzz targets' checked-in inputs, run on stable through the entry point the
//! coverage-guided targets call (`augur_bridge_ros2::fuzz::Target::run`).
//!
//! - `fuzz/seeds/<target>/`: real messages, recordings, packages and parameter
//!   files. Each must be accepted: a decoder that starts refusing what the node
//!   really receives fails.
//! - `fuzz/corpus/<target>/`: the minimised corpus of the recorded coverage-guided
//!   runs (its smallest inputs, up to 2 MB per target). Every input must run without
//!   a crash.
//! - `fuzz/regressions/<target>/`: every input a fuzz run found a crash with. Each
//!   must now be refused cleanly.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seeds` rewrites the seeds
//! (`fuzz/seeds/<target>/`) from the packages and parameter files in the tree.

use std::path::{Path, PathBuf};

use augur_bridge_ros2::fuzz::Target;
use augur_bridge_ros2::msg::{
    Clock, CompressedImage, Header, Image, Imu, JointState, Odometry, PointStamped, Quaternion,
    Time, Vector3,
};
use augur_bridge_ros2::transport::cdr;
use augur_bridge_ros2::transport::zenoh::Attachment;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The files of `dir`, sorted, with their bytes (none if it does not exist).
fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable input");
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_corpus_and_seed_input_runs_and_the_seeds_are_accepted() {
    for target in Target::ALL {
        let seeds = inputs(&fuzz_dir().join("seeds").join(target.name()));
        assert!(!seeds.is_empty(), "{}: no seed inputs", target.name());
        for (path, bytes) in &seeds {
            assert!(
                target.run(bytes),
                "{}: seed {} is refused",
                target.name(),
                path.display()
            );
        }
        let corpus = inputs(&fuzz_dir().join("corpus").join(target.name()));
        assert!(!corpus.is_empty(), "{}: no corpus", target.name());
        // Mostly malformed inputs that reached new code: each must run, not crash.
        let accepted = corpus.iter().filter(|(_, bytes)| target.run(bytes)).count();
        eprintln!(
            "{}: {} seeds, {} corpus inputs ({accepted} accepted)",
            target.name(),
            seeds.len(),
            corpus.len()
        );
    }
}

#[test]
fn every_regression_input_is_refused_without_a_crash() {
    let root = fuzz_dir().join("regressions");
    let mut total = 0;
    for entry in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = entry.expect("readable").path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let target = Target::from_name(name)
            .unwrap_or_else(|| panic!("{}: not a fuzz target", dir.display()));
        for (path, bytes) in inputs(&dir) {
            assert!(
                !target.run(&bytes),
                "{name}: regression {} is accepted",
                path.display()
            );
            total += 1;
        }
    }
    assert!(total > 0, "no regression inputs under {}", root.display());
}

fn header() -> Header {
    Header {
        stamp: Time {
            sec: 1_764_700_000,
            nanosec: 5_000_000,
        },
        frame_id: "base_link".into(),
    }
}

/// Big-endian CDR of the same body: the decoders take either byte order.
fn big_endian<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut payload = vec![0x00, 0x00, 0x00, 0x00];
    cdr_encoding::to_writer::<T, byteorder::BigEndian, _>(&mut payload, value).expect("encodes");
    payload
}

fn write(target: Target, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("seeds").join(target.name());
    std::fs::create_dir_all(&dir).expect("seed folder");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

/// Rewrites `fuzz/seeds/`: real messages in both byte orders, rmw_zenoh's two
/// attachment layouts, every package's manifest and node defaults, the launch
/// parameter files, typical `--ros-args` tails, the pendulum's dynamics graph. The
/// MCAP seed is a recording made by `augur run --record` (see docs/security.md).
#[test]
#[ignore = "writes the seed corpus into the source tree"]
fn write_seeds() {
    let joint = JointState {
        header: header(),
        name: vec!["pendulum_joint".into(), "elbow".into()],
        position: vec![0.3, -1.2],
        velocity: vec![-2.5, 0.1],
        effort: vec![0.0, 0.5],
    };
    write(
        Target::CdrJointState,
        "pendulum",
        &cdr::encode(&joint).unwrap(),
    );
    write(Target::CdrJointState, "pendulum-be", &big_endian(&joint));
    let imu = Imu {
        header: header(),
        orientation: Quaternion {
            x: 0.0,
            y: 0.0,
            z: 0.38268343,
            w: 0.92387953,
        },
        angular_velocity: Vector3 {
            x: 0.01,
            y: -0.02,
            z: 0.5,
        },
        linear_acceleration: Vector3 {
            x: 0.0,
            y: 0.0,
            z: 9.81,
        },
        ..Default::default()
    };
    // Camera frames: a small rgb8 frame with row padding, and the same as png and jpeg.
    let (w, h) = (12u32, 8u32);
    let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
    let mut padded = Vec::new();
    for row in pixels.chunks(w as usize * 3) {
        padded.extend_from_slice(row);
        padded.extend_from_slice(&[0, 0, 0, 0]);
    }
    let image = Image {
        header: header(),
        height: h,
        width: w,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: w * 3 + 4,
        data: padded,
    };
    write(
        Target::CdrImage,
        "rgb8-padded",
        &cdr::encode(&image).unwrap(),
    );
    write(Target::CdrImage, "rgb8-padded-be", &big_endian(&image));
    for (name, format, codec) in [
        ("png", "png", image::ImageFormat::Png),
        (
            "jpeg",
            "rgb8; jpeg compressed bgr8",
            image::ImageFormat::Jpeg,
        ),
    ] {
        let mut encoded = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_raw(w, h, pixels.clone())
            .unwrap()
            .write_to(&mut encoded, codec)
            .unwrap();
        let compressed = CompressedImage {
            header: header(),
            format: format.into(),
            data: encoded.into_inner(),
        };
        write(
            Target::CdrCompressedImage,
            name,
            &cdr::encode(&compressed).unwrap(),
        );
    }
    write(Target::CdrImu, "imu", &cdr::encode(&imu).unwrap());
    write(Target::CdrImu, "imu-be", &big_endian(&imu));
    let mut odom = Odometry {
        header: header(),
        child_frame_id: "base_footprint".into(),
        ..Default::default()
    };
    odom.pose.pose.position.x = 1.5;
    odom.pose.pose.orientation.w = 1.0;
    odom.twist.twist.linear.x = 0.4;
    write(Target::CdrOdometry, "odom", &cdr::encode(&odom).unwrap());
    write(Target::CdrOdometry, "odom-be", &big_endian(&odom));
    let mut point = PointStamped {
        header: header(),
        ..Default::default()
    };
    point.point.y = 0.12;
    write(
        Target::CdrPointStamped,
        "target",
        &cdr::encode(&point).unwrap(),
    );
    let clock = Clock {
        clock: Time {
            sec: 12,
            nanosec: 500_000_000,
        },
    };
    write(Target::CdrClock, "clock", &cdr::encode(&clock).unwrap());

    let attachment = Attachment {
        sequence_number: 42,
        source_timestamp_ns: 1_764_700_000_005_000_000,
        gid: [7; 16],
    };
    write(
        Target::ZenohAttachment,
        "current",
        &attachment.encode().to_bytes(),
    );
    let mut legacy = Vec::new();
    for (key, value) in [
        ("sequence_number", 42i64),
        ("source_timestamp", 1_764_700_000_005_000_000),
    ] {
        legacy.push(key.len() as u8);
        legacy.extend_from_slice(key.as_bytes());
        legacy.extend_from_slice(&value.to_le_bytes());
    }
    legacy.push(10);
    legacy.extend_from_slice(b"source_gid");
    legacy.push(16);
    legacy.extend_from_slice(&[7; 16]);
    write(Target::ZenohAttachment, "legacy", &legacy);

    let models = workspace().join("models");
    for package in ["pendulum", "pendulum-rssm", "reacher", "bench-rssm"] {
        let manifest = std::fs::read(models.join(package).join("manifest.toml")).unwrap();
        write(Target::Manifest, package, &manifest);
    }
    let node = std::fs::read(models.join("pendulum/node.yaml")).unwrap();
    write(Target::ParamsYaml, "pendulum-node", &node);
    let launch = std::fs::read(workspace().join("launch/params/pendulum.yaml")).unwrap();
    write(Target::ParamsYaml, "launch-pendulum", &launch);
    for (name, args) in [
        (
            "params",
            vec![
                "-p",
                "planner:=mppi",
                "-p",
                "mppi.samples:=256",
                "-p",
                "trigger:=observation",
            ],
        ),
        (
            "remap",
            vec![
                "-r",
                "__ns:=/robot1",
                "-r",
                "/joint_states:=/robot1/joint_states",
                "-r",
                "augur:__node:=augur_left",
            ],
        ),
    ] {
        write(Target::RosArgs, name, args.join("\0").as_bytes());
    }
    let dynamics = std::fs::read(models.join("pendulum/dynamics.onnx")).unwrap();
    write(Target::Onnx, "pendulum-dynamics", &dynamics);
}
