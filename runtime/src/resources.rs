//! Process resource figures (resident memory) read from `/proc`, for benches and
//! diagnostics. Returns `None` where `/proc` is unavailable.

/// Resident set size now and its peak (`VmRSS`, `VmHWM`), in bytes.
pub fn resident_memory() -> Option<ResidentMemory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
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
