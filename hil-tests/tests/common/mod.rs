//! What the bench tests share: the two binaries they run, `augur` started as a user
//! starts it, and what in its output a person would take for a problem.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The bench tools binary of this crate.
pub fn bench_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_augur-hil"))
}

/// The on-robot `augur` binary beside `augur-hil` (`cargo test --workspace` builds
/// both into one folder); built with the same cargo and profile if it is missing.
pub fn node_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = bench_binary()
                .parent()
                .expect("a binary lives in a folder")
                .to_path_buf();
            let path = dir.join("augur");
            if !path.is_file() {
                let release = dir.file_name().is_some_and(|n| n == "release");
                let mut build = Command::new(env!("CARGO"));
                build.args(["build", "-p", "augur-bridge-ros2", "--bin", "augur"]);
                if release {
                    build.arg("--release");
                }
                let status = build.status().expect("run cargo build");
                assert!(status.success(), "cargo build -p augur-bridge-ros2 failed");
            }
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .clone()
}

/// The workspace root, where users run `augur`.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `augur` as a user starts it, discovery on loopback, a domain of the test's own.
pub fn augur(domain: u32) -> Command {
    let mut command = Command::new(node_binary());
    command
        .current_dir(workspace())
        .env("ROS_DOMAIN_ID", domain.to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// The lines of `stderr` a person would take for a problem.
pub fn complaints(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            line.contains(" ERROR ") || line.contains(" WARN ") || line.contains('\u{1b}')
        })
        .collect()
}
