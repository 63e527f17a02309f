//! The `realtime.*` parameters on the real `augur run` process, read back from the
//! kernel (`/proc`): the control thread under SCHED_FIFO at the asked priority and on
//! the asked CPU, every page locked; and, for a process without the rights
//! (`setpriv` drops CAP_SYS_NICE and CAP_IPC_LOCK, `prlimit` sets RLIMIT_RTPRIO and
//! RLIMIT_MEMLOCK to 0), a refusal that names the parameter and the right it needs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum")
}

fn augur() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_augur"));
    command
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env("RUST_LOG", "error");
    command
}

/// The ids of the threads of `pid` named `name`.
fn threads(pid: u32, name: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .map(|t| t.file_name().to_string_lossy().into_owned())
        .filter(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

/// `Key:\tvalue` of a `/proc/.../status` file.
fn status_field(path: &str, key: &str) -> String {
    let status = std::fs::read_to_string(path).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} missing in {path}"))
        .trim()
        .to_string()
}

/// This test process's effective capabilities.
fn capabilities() -> u64 {
    u64::from_str_radix(&status_field("/proc/self/status", "CapEff"), 16).unwrap()
}

const CAP_IPC_LOCK: u64 = 1 << 14;
const CAP_SETPCAP: u64 = 1 << 8;
const CAP_SYS_NICE: u64 = 1 << 23;

#[test]
fn the_kernel_shows_the_control_thread_under_sched_fifo_pinned_and_memory_locked() {
    let caps = capabilities();
    if caps & CAP_SYS_NICE == 0 || caps & CAP_IPC_LOCK == 0 {
        // Without the rights the settings must be refused, which the next test
        // checks; there is nothing to read back.
        eprintln!("no CAP_SYS_NICE / CAP_IPC_LOCK here (CapEff {caps:x}): refusal only");
        return;
    }
    let mut child = augur()
        .args(["run", "--model"])
        .arg(model())
        .args(["--duration", "20", "--ros-args"])
        .args([
            "-p",
            "realtime.priority:=20",
            "-p",
            "realtime.control_cpus:=[0]",
        ])
        .args([
            "-p",
            "realtime.ingest_cpus:=[0]",
            "-p",
            "realtime.lock_memory:=true",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut control = Vec::new();
    for _ in 0..200 {
        control = threads(pid, "augur-control");
        if !control.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The model is loaded on the control thread before the loop starts.
    std::thread::sleep(Duration::from_millis(1500));
    let finished = child.try_wait().unwrap();
    let read = || -> (String, String, String, String) {
        let tid = &control[0];
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
        // Fields after the `(comm)`: state is field 3; rt_priority is 40, policy 41.
        let after = stat.rsplit_once(") ").unwrap().1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let (rt_priority, policy) = (fields[40 - 3].to_string(), fields[41 - 3].to_string());
        let cpus = status_field(
            &format!("/proc/{pid}/task/{tid}/status"),
            "Cpus_allowed_list",
        );
        let locked = status_field(&format!("/proc/{pid}/status"), "VmLck");
        (policy, rt_priority, cpus, locked)
    };
    assert!(
        finished.is_none() && !control.is_empty(),
        "the node did not start: {finished:?}"
    );
    let (policy, rt_priority, cpus, locked) = read();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        policy,
        "1",
        "SCHED_FIFO is policy 1 ({})",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(rt_priority, "20");
    assert_eq!(cpus, "0");
    let locked_kb: u64 = locked.trim_end_matches(" kB").parse().unwrap();
    assert!(
        locked_kb > 10_000,
        "VmLck {locked}: the model and the heap are locked"
    );
}

#[test]
fn without_the_rights_each_setting_is_refused_naming_parameter_and_capability() {
    for (param, says) in [
        ("realtime.priority:=50", "CAP_SYS_NICE"),
        ("realtime.lock_memory:=true", "CAP_IPC_LOCK"),
    ] {
        // Drop the capabilities where this process holds them (root); a process
        // without them is refused as it is.
        let mut command = if capabilities() & CAP_SETPCAP != 0 {
            let mut c = Command::new("setpriv");
            c.args([
                "--inh-caps=-all",
                "--bounding-set=-sys_nice,-ipc_lock",
                "--",
                "prlimit",
            ]);
            c
        } else {
            Command::new("prlimit")
        };
        let output = command
            .args(["--rtprio=0", "--memlock=0", "--"])
            .arg(env!("CARGO_BIN_EXE_augur"))
            .args(["run", "--model"])
            .arg(model())
            .args(["--duration", "5", "--ros-args", "-p", param])
            .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
            .env("RUST_LOG", "error")
            .output()
            .expect("setpriv and prlimit (util-linux) run augur");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{param}: {stderr}");
        let name = param.split(":=").next().unwrap();
        assert!(
            stderr.contains(name) && stderr.contains(says),
            "{param}: {stderr}"
        );
    }
}

#[test]
fn a_cpu_or_priority_out_of_range_is_a_parameter_error() {
    for (param, says) in [
        ("realtime.priority:=100", "1..=99"),
        ("realtime.control_cpus:=[4096]", "largest CPU index"),
    ] {
        let output = augur()
            .args(["run", "--check-params", "--model"])
            .arg(model())
            .args(["--ros-args", "-p", param])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{param}: accepted");
        assert!(stderr.contains(says), "{param}: {stderr}");
    }
}
