//! The node processes of one bench run: `augur run` started, checked, killed and
//! restarted as the scenario says, each with its own recording and log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::judge::{CycleSample, NodeExit};
use crate::node_process::{read_cycles, read_plan_stats, run_command, NodeProcess};
use crate::scenario::Scenario;

use super::node_params;

/// The node processes of one run, each with its recording and log.
pub(super) struct Nodes {
    pub(super) scenario: Scenario,
    pub(super) model: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) current: Option<NodeProcess>,
    pub(super) pid: Arc<AtomicU32>,
    pub(super) recordings: Vec<PathBuf>,
    pub(super) exits: Vec<NodeExit>,
}

impl Nodes {
    pub(super) fn start(&mut self) -> anyhow::Result<()> {
        let k = self.recordings.len();
        let recording = self.dir.join(format!("node-{k}.mcap"));
        let _ = std::fs::remove_file(&recording);
        let mut command = run_command(&self.model, self.scenario.trigger, &recording)?;
        command.arg("--ros-args");
        for param in node_params(&self.scenario) {
            command.args(["-p", &param]);
        }
        let log = std::fs::File::create(self.dir.join(format!("node-{k}.log")))?;
        command.stdout(log.try_clone()?).stderr(log);
        let node = NodeProcess::spawn(&mut command)?;
        self.pid.store(node.pid(), Ordering::Relaxed);
        self.current = Some(node);
        self.recordings.push(recording);
        Ok(())
    }

    /// Records an exit the runner did not cause, if the node has exited.
    pub(super) fn check(&mut self, t: f64) {
        if let Some(status) = self.current.as_mut().and_then(|n| n.exited()) {
            self.current = None;
            self.exits.push(NodeExit {
                t,
                expected: false,
                status: status.to_string(),
                clean: false,
            });
        }
    }

    pub(super) fn kill(&mut self, t: f64) -> anyhow::Result<()> {
        if let Some(node) = self.current.take() {
            let status = node.kill()?;
            self.exits.push(NodeExit {
                t,
                expected: true,
                status: status.to_string(),
                clean: false,
            });
        }
        Ok(())
    }

    pub(super) fn stop(&mut self, t: f64) -> anyhow::Result<()> {
        if let Some(node) = self.current.take() {
            let status = node.stop()?;
            self.exits.push(NodeExit {
                t,
                expected: false,
                status: status.to_string(),
                clean: status.success(),
            });
        }
        Ok(())
    }

    /// Every recorded cycle of every process, timed from `t0_unix`.
    pub(super) fn cycles(&self, t0_unix: f64) -> Vec<CycleSample> {
        let mut all = Vec::new();
        for path in &self.recordings {
            // A killed node leaves an unfinished recording; what it has is skipped.
            let (Ok(cycles), Ok(stats)) = (read_cycles(path), read_plan_stats(path)) else {
                continue;
            };
            let missed: BTreeMap<u64, bool> =
                stats.iter().map(|s| (s.cycle, s.deadline_missed)).collect();
            all.extend(cycles.iter().map(|c| CycleSample {
                t: c.stamp.sec as f64 + c.stamp.nanosec as f64 * 1e-9 - t0_unix,
                planned: c.planned,
                faults: c.faults,
                command: c.command.clone(),
                compute_ms: c.compute_ns as f64 * 1e-6,
                deadline_missed: missed.get(&c.cycle).copied().unwrap_or(false),
            }));
        }
        all
    }
}
