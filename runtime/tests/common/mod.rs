//! Helpers shared by the model-package tests: the shipped packages, temporary copies
//! of them, and manifest edits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use augur_runtime::model::{ModelPackage, PackageError};

/// A shipped package, `models/<name>`.
pub fn package(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(name)
}

/// A test fixture, `runtime/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// Copies the ONNX package (not its compiled artifacts) into a fresh temporary folder.
pub fn copy_package(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    for entry in std::fs::read_dir(package(name)).expect("package folder") {
        let entry = entry.expect("folder entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    dir
}

/// Replaces the first `from` in the package's manifest by `to`.
pub fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    assert!(text.contains(from), "manifest has no `{from}` to replace");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write manifest");
}

/// The error opening the (broken) package in `dir`.
pub fn open_err(dir: &Path) -> PackageError {
    ModelPackage::open_with(dir, false).expect_err("a broken package must be refused")
}
