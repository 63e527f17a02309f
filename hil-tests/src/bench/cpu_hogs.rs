//! The CPU-starvation fault: busy-looping processes competing with the node.

use std::process::{Child, Command, Stdio};

use anyhow::Context as _;

/// Busy-looping processes competing with the node for the CPU.
pub(super) struct CpuHogs(Vec<Child>);

impl CpuHogs {
    pub(super) fn start(processes: usize) -> anyhow::Result<CpuHogs> {
        let mut hogs = Vec::new();
        for _ in 0..processes {
            hogs.push(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()
                    .context("starting a busy-loop process")?,
            );
        }
        Ok(CpuHogs(hogs))
    }
}

impl Drop for CpuHogs {
    fn drop(&mut self) {
        for hog in &mut self.0 {
            crate::node_process::signal(hog, libc::SIGKILL);
            let _ = hog.wait();
        }
    }
}
