//! The Python peers the bench subcommands measure beside Augur (PyTorch, onnxruntime,
//! numpy): scripts shipped in the source tree, run with the user's interpreter, each
//! printing JSON lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::de::DeserializeOwned;

/// `relative` (to the repository root), from the working directory or the binary's
/// manifest directory.
pub fn find(relative: &str) -> anyhow::Result<PathBuf> {
    let from_manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    [PathBuf::from(relative), from_manifest]
        .into_iter()
        .find(|p| p.is_file())
        .with_context(|| format!("{relative} not found (run from the repository root)"))
}

/// Runs `python script args...` and returns its standard output; `what` names the peer
/// in errors, with the script's standard error when it fails.
pub fn run(python: &Path, script: &Path, args: &[String], what: &str) -> anyhow::Result<String> {
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The last line of `stdout`, parsed as JSON.
pub fn last_json<T: DeserializeOwned>(stdout: &str, what: &str) -> anyhow::Result<T> {
    let line = stdout
        .lines()
        .last()
        .with_context(|| format!("{what} printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("parsing the {what}'s output `{line}`"))
}
