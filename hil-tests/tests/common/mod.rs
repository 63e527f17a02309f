//! What the bench tests share: the two binaries they run.

use std::path::PathBuf;
use std::process::Command;
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
