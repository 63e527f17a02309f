//! The node as a child process (`augur run`, exactly as a user starts it), for the
//! benches that put the real binary on the other side of the wire (`bench-node`,
//! `hil`), and reading back what it recorded.
//!
//! The node binary is `$AUGUR_BIN` if set, else the `augur` next to this executable
//! (cargo builds both into the same `target/<profile>/`), else `augur` on `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use augur_runtime::control::Trigger;
use augur_runtime::record::{CycleRecord, PlanStatsMessage, Recording};

use augur_bridge_ros2::node::record::{CYCLE_TOPIC, PLAN_STATS_TOPIC};

/// The on-robot `augur` binary the benches start (see the module doc).
pub fn augur_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("AUGUR_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        anyhow::ensure!(path.is_file(), "AUGUR_BIN={} is not a file", path.display());
        return Ok(path);
    }
    augur_bridge_ros2::cli::bench_tools::sibling_binary(
        "augur",
        "the bench starts the node binary; build it with \
         `cargo build --release -p augur-bridge-ros2` or set AUGUR_BIN",
    )
}

/// `augur run --model <model> --trigger <trigger> --record <recording>`, discovery
/// kept on loopback; append `--ros-args ...` before spawning.
pub fn run_command(model: &Path, trigger: Trigger, recording: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(augur_binary()?);
    command
        .arg("run")
        .arg("--model")
        .arg(model)
        .args(["--trigger", trigger.as_str()])
        .arg("--record")
        .arg(recording)
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        // Warnings and errors only, with the DDS stack's shutdown noise off as in
        // the node's own default filter (`augur_bridge_ros2::cli::logging`).
        .env(
            "RUST_LOG",
            "warn,rustdds=error,ros2_client=error,\
             rustdds::network::udp_listener=off,rustdds::discovery::discovery_db=off",
        );
    Ok(command)
}

/// The child `augur run`, interrupted (so its recording closes) when dropped.
pub struct NodeProcess {
    pub child: Child,
}

impl NodeProcess {
    /// Spawns `command` (from [`run_command`]).
    pub fn spawn(command: &mut Command) -> anyhow::Result<NodeProcess> {
        Ok(NodeProcess {
            child: command.spawn().context("starting `augur run`")?,
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, then waits; an unsuccessful exit is an error.
    pub fn interrupt_and_wait(self) -> anyhow::Result<()> {
        let status = self.stop()?;
        anyhow::ensure!(status.success(), "augur run exited with {status}");
        Ok(())
    }

    /// SIGINT, then waits up to 20 s for the node to close its recording and exit
    /// (SIGKILL after that); returns how it exited.
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        signal(&self.child, libc::SIGINT);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > until {
                signal(&self.child, libc::SIGKILL);
                return Ok(self.child.wait()?);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (no clean shutdown: the robot computer losing the process).
    pub fn kill(mut self) -> anyhow::Result<ExitStatus> {
        signal(&self.child, libc::SIGKILL);
        Ok(self.child.wait()?)
    }

    /// The exit status, if the node has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(&self.child, libc::SIGINT);
            let _ = self.child.wait();
        }
    }
}

/// Sends `signal` to our own child.
pub fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid; no memory is touched.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// The `/augur/cycle` records of a recording, in cycle order.
pub fn read_cycles(path: &Path) -> anyhow::Result<Vec<CycleRecord>> {
    read_by_cycle(path, CYCLE_TOPIC, CycleRecord::decode, |c| c.cycle)
}

/// The `PlanStats` of a recording, in cycle order.
pub fn read_plan_stats(path: &Path) -> anyhow::Result<Vec<PlanStatsMessage>> {
    read_by_cycle(path, PLAN_STATS_TOPIC, PlanStatsMessage::decode, |s| {
        s.cycle
    })
}

/// Every message on `topic`, decoded and sorted by its cycle number.
fn read_by_cycle<T, E>(
    path: &Path,
    topic: &str,
    decode: impl Fn(&[u8]) -> Result<T, E>,
    cycle: impl Fn(&T) -> u64,
) -> anyhow::Result<Vec<T>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut records = Recording::open(path)?
        .messages_on(topic)?
        .iter()
        .map(|m| decode(&m.data))
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by_key(|r| cycle(r));
    Ok(records)
}

/// CPU time the hypervisor has taken from this machine's virtual CPUs since boot, s
/// (the `steal` column of `/proc/stat`, all CPUs); `None` off Linux.
pub fn cpu_steal_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let steal: u64 = cpu.split_whitespace().nth(7)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| steal as f64 / ticks as f64)
}

/// `(VmRSS, VmHWM)` of `pid` in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    augur_runtime::resources::resident_memory_of(pid).map(|m| (m.current / 1024, m.peak / 1024))
}
