//! The launch files, the parameter file and the binary agree: what the launch files
//! start is a valid `augur run` command line, every parameter in the file is one the
//! node knows, and the package defaults equal the launch parameter file.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use augur_bridge_ros2::ros_args::parse_ros_args;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn augur(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_augur"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run augur")
}

fn known_parameters() -> BTreeSet<String> {
    let out = augur(&["run", "--model", "models/pendulum", "--list-params"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn every_parameter_in_the_file_is_a_parameter_of_the_node() {
    let known = known_parameters();
    let file = root().join("launch/params/pendulum.yaml");
    let args = vec!["--params-file".to_string(), file.display().to_string()];
    let parsed = parse_ros_args(&args, "augur").unwrap();
    assert!(parsed.params.len() > 20, "{:?}", parsed.params);
    for name in parsed.params.keys() {
        assert!(
            known.contains(name),
            "`{name}` is not a parameter of `augur run`"
        );
    }
    // The package defaults hold the same values the launch file passes.
    let defaults = root().join("models/pendulum/node.yaml");
    let args = vec!["--params-file".to_string(), defaults.display().to_string()];
    let package = parse_ros_args(&args, "augur").unwrap();
    for (name, value) in &package.params {
        assert_eq!(parsed.params.get(name), Some(value), "`{name}` differs");
    }
}

#[test]
fn a_misspelt_parameter_is_refused_with_its_name() {
    let out = augur(&[
        "run",
        "--model",
        "models/pendulum",
        "--check-params",
        "--ros-args",
        "-p",
        "sensor_timeut:=0.5",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown parameter `sensor_timeut` (did you mean `sensor_timeout`?)"),
        "{stderr}"
    );
}

#[test]
fn every_launch_file_starts_a_valid_augur_run() {
    let out = Command::new(common::python::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/launch_info.py"
        ))
        .arg(root().join("launch/pendulum.launch.py"))
        .arg(root().join("launch/pendulum.launch.xml"))
        .arg(root().join("launch/robot.launch.py"))
        .output()
        .expect("run launch_info.py");
    assert!(out.status.success(), "{out:?}");
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (file, params) in [
        ("pendulum.launch.py", "pendulum.yaml"),
        ("pendulum.launch.xml", "pendulum.yaml"),
        ("robot.launch.py", "robot.yaml"),
    ] {
        let params_file = root().join("launch/params").join(params);
        let node = &info[file];
        assert_eq!(node["executable"], "augur", "{file}");
        assert_eq!(node["name"], "augur", "{file}");
        let files: Vec<&str> = node["params_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(files, [params_file.to_str().unwrap()], "{file}");
        // launch_ros appends `--ros-args -r __node:=<name> --params-file <file>`.
        let mut args: Vec<String> = node["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        args.extend(
            [
                "--check-params",
                "--ros-args",
                "-r",
                "__node:=augur",
                "--params-file",
            ]
            .map(String::from),
        );
        args.push(files[0].to_string());
        let out = Command::new(env!("CARGO_BIN_EXE_augur"))
            .current_dir(root())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: `augur {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The unit file as installed, with the binary, the package and the parameter file
/// pointed at this tree.
fn unit_for_this_tree() -> String {
    let unit = std::fs::read_to_string(root().join("launch/systemd/augur.service")).unwrap();
    unit.replace("/opt/augur/bin/augur", env!("CARGO_BIN_EXE_augur"))
        .replace(
            "/opt/augur/models/",
            &format!("{}/models/", root().display()),
        )
        .replace(
            "/etc/augur/robot.yaml",
            &root()
                .join("launch/params/robot.yaml")
                .display()
                .to_string(),
        )
}

#[test]
fn the_systemd_unit_verifies_clean_and_its_command_line_is_a_valid_run() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("augur.service");
    let text = unit_for_this_tree();
    std::fs::write(&unit, &text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (systemd) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    // ExecStart, continuation lines joined, run with --check-params.
    let exec = text
        .replace("\\\n", " ")
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=").map(str::to_string))
        .expect("an ExecStart line");
    let mut words = exec.split_whitespace();
    let program = words.next().unwrap();
    let mut args: Vec<&str> = words.collect();
    let ros_args = args.iter().position(|a| *a == "--ros-args").unwrap();
    args.insert(ros_args, "--check-params");
    let out = Command::new(program).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "`{exec}` --check-params: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
