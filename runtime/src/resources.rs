//! Process and machine resource figures (resident memory, load average) read from
//! `/proc`, for benches and diagnostics. Returns `None` where `/proc` is unavailable.

/// Resident set size of this process now and its peak (`VmRSS`, `VmHWM`), in bytes.
pub fn resident_memory() -> Option<ResidentMemory> {
    status_memory("/proc/self/status")
}

/// Resident set size of process `pid` now and its peak, in bytes.
pub fn resident_memory_of(pid: u32) -> Option<ResidentMemory> {
    status_memory(&format!("/proc/{pid}/status"))
}

/// The 1, 5 and 15 minute load averages as `/proc/loadavg` gives them, or `n/a`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

fn status_memory(path: &str) -> Option<ResidentMemory> {
    let status = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(ResidentMemory {
        current: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Resident memory of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentMemory {
    /// Bytes resident now.
    pub current: u64,
    /// Highest resident bytes so far.
    pub peak: u64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_is_read_and_peak_is_at_least_current() {
        let mem = super::resident_memory().expect("/proc/self/status is readable on Linux");
        assert!(mem.current > 0);
        assert!(mem.peak >= mem.current);
    }
}
