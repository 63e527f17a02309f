//! Finding the Python environment the cross-process tests drive (rclpy, message
//! packages): `AUGUR_PYTHON`, else `<workspace>/.venv/bin/python`.

use std::path::{Path, PathBuf};

/// The interpreter; panics with the fix if it is missing, so a test never passes
/// silently without its peer.
pub fn python() -> PathBuf {
    let python = match std::env::var_os("AUGUR_PYTHON") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    };
    assert!(
        python.exists(),
        "Python test environment not found at {}: run `scripts/python-env.sh` \
         (or set AUGUR_PYTHON to a python with rclpy and the ROS 2 message packages)",
        python.display()
    );
    python
}

/// The ROS 2 `share/` directory of the environment (holds `<pkg>/msg/*.msg`).
pub fn ros_share_dir() -> PathBuf {
    let output = std::process::Command::new(python())
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .expect("run python");
    assert!(output.status.success(), "python failed: {output:?}");
    let prefix = String::from_utf8(output.stdout).expect("utf-8 prefix");
    let share = Path::new(prefix.trim()).join("share");
    assert!(
        share.join("std_msgs/msg/Header.msg").exists(),
        "{} has no ROS 2 message packages: run `scripts/python-env.sh`",
        share.display()
    );
    share
}
