//! Optional real-time settings for a robot computer: `SCHED_FIFO` for the control
//! thread, CPU affinity for the control thread and for the rest of the process (the
//! transport and ingest threads), and `mlockall` so the loop never page-faults.
//!
//! Each is off unless its parameter asks for it. One that is asked for and refused
//! by the kernel stops the node with an error naming the parameter and the right the
//! process lacks; a robot that was configured for real time must not quietly run
//! without it. What is in effect is reported in `/diagnostics` (`realtime.*`).

use std::fmt;

/// The `realtime.*` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealtimeParams {
    /// `realtime.priority`: `SCHED_FIFO` priority of the control thread, 1..=99
    /// (`None`: the default time-sharing scheduler).
    pub priority: Option<u8>,
    /// `realtime.control_cpus`: CPUs the control thread may run on (empty: any).
    pub control_cpus: Vec<usize>,
    /// `realtime.ingest_cpus`: CPUs every other thread of the process may run on:
    /// set before the transport starts, so its threads (and the ingest callbacks on
    /// them) inherit it (empty: any).
    pub ingest_cpus: Vec<usize>,
    /// `realtime.lock_memory`: `mlockall(MCL_CURRENT | MCL_FUTURE)` before the model
    /// is loaded.
    pub lock_memory: bool,
}

/// A real-time setting the kernel refused.
#[derive(Debug, thiserror::Error)]
#[error("parameter `{parameter}`: {what} failed: {os_error}; {remedy}")]
pub struct RealtimeError {
    /// The parameter that asked for it.
    pub parameter: &'static str,
    /// What was attempted.
    pub what: String,
    /// The kernel's answer.
    pub os_error: std::io::Error,
    /// The right the process needs, or what else to change.
    pub remedy: String,
}

impl RealtimeParams {
    /// The process-wide settings, applied on the main thread before the transport
    /// and the control thread start: memory locking and the ingest affinity (which
    /// every thread created afterwards inherits).
    pub fn apply_to_process(&self) -> Result<(), RealtimeError> {
        if self.lock_memory {
            lock_memory()?;
        }
        if !self.ingest_cpus.is_empty() {
            set_affinity("realtime.ingest_cpus", &self.ingest_cpus)?;
        }
        Ok(())
    }

    /// The control thread's settings, applied on that thread before the model loads.
    pub fn apply_to_control_thread(&self) -> Result<(), RealtimeError> {
        if !self.control_cpus.is_empty() {
            set_affinity("realtime.control_cpus", &self.control_cpus)?;
        }
        if let Some(priority) = self.priority {
            set_fifo(priority)?;
        }
        Ok(())
    }

    /// The `/diagnostics` key/values: what is in effect.
    pub fn diagnostics(&self) -> [(&'static str, String); 4] {
        [
            (
                "realtime.scheduler",
                match self.priority {
                    Some(p) => format!("SCHED_FIFO {p}"),
                    None => "SCHED_OTHER".into(),
                },
            ),
            (
                "realtime.control_cpus",
                CpuList(&self.control_cpus).to_string(),
            ),
            (
                "realtime.ingest_cpus",
                CpuList(&self.ingest_cpus).to_string(),
            ),
            ("realtime.memory_locked", self.lock_memory.to_string()),
        ]
    }
}

/// `0,2-3`, or `any` for no restriction.
struct CpuList<'a>(&'a [usize]);

impl fmt::Display for CpuList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any");
        }
        let list: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// The largest CPU index a `cpu_set_t` holds.
pub const MAX_CPU: usize = libc::CPU_SETSIZE as usize - 1;

#[cfg(target_os = "linux")]
fn set_affinity(parameter: &'static str, cpus: &[usize]) -> Result<(), RealtimeError> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // The parameter check bounds cpu by MAX_CPU; CPU_SET indexes the fixed array.
        // SAFETY: cpu < CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu.min(MAX_CPU), &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; set is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        return Ok(());
    }
    Err(RealtimeError {
        parameter,
        what: format!("pinning to CPUs {}", CpuList(cpus)),
        os_error: std::io::Error::last_os_error(),
        remedy: format!(
            "this process may run on CPUs {} (cgroup cpuset / taskset)",
            allowed_cpus()
        ),
    })
}

/// The CPUs the process may run on now, as a list.
#[cfg(target_os = "linux")]
fn allowed_cpus() -> String {
    // SAFETY: as in set_affinity; sched_getaffinity fills the set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return "unknown".into();
    }
    let cpus: Vec<usize> = (0..=MAX_CPU)
        // SAFETY: i < CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect();
    CpuList(&cpus).to_string()
}

#[cfg(target_os = "linux")]
fn set_fifo(priority: u8) -> Result<(), RealtimeError> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: pthread_self is the calling thread; param is a valid sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        return Ok(());
    }
    Err(RealtimeError {
        parameter: "realtime.priority",
        what: format!("SCHED_FIFO priority {priority} for the control thread"),
        os_error: std::io::Error::from_raw_os_error(rc),
        remedy: format!(
            "the process needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority} \
             (systemd: LimitRTPRIO={priority}; shell: ulimit -r {priority}); \
             in a container also --cap-add=SYS_NICE"
        ),
    })
}

#[cfg(target_os = "linux")]
fn lock_memory() -> Result<(), RealtimeError> {
    // SAFETY: mlockall takes flags only.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        return Ok(());
    }
    Err(RealtimeError {
        parameter: "realtime.lock_memory",
        what: "mlockall(MCL_CURRENT | MCL_FUTURE)".into(),
        os_error: std::io::Error::last_os_error(),
        remedy: "the process needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK above its resident \
                 size (systemd: LimitMEMLOCK=infinity; shell: ulimit -l unlimited)"
            .into(),
    })
}

#[cfg(not(target_os = "linux"))]
fn unsupported(parameter: &'static str) -> Result<(), RealtimeError> {
    Err(RealtimeError {
        parameter,
        what: "a real-time setting".into(),
        os_error: std::io::Error::from(std::io::ErrorKind::Unsupported),
        remedy: "real-time settings are implemented for Linux only".into(),
    })
}

#[cfg(not(target_os = "linux"))]
fn set_affinity(parameter: &'static str, _cpus: &[usize]) -> Result<(), RealtimeError> {
    unsupported(parameter)
}

#[cfg(not(target_os = "linux"))]
fn set_fifo(_priority: u8) -> Result<(), RealtimeError> {
    unsupported("realtime.priority")
}

#[cfg(not(target_os = "linux"))]
fn lock_memory() -> Result<(), RealtimeError> {
    unsupported("realtime.lock_memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_say_what_is_in_effect() {
        let off = RealtimeParams::default();
        assert_eq!(
            off.diagnostics().map(|(_, v)| v),
            ["SCHED_OTHER", "any", "any", "false"].map(String::from)
        );
        let on = RealtimeParams {
            priority: Some(80),
            control_cpus: vec![1],
            ingest_cpus: vec![0, 2],
            lock_memory: true,
        };
        assert_eq!(
            on.diagnostics().map(|(_, v)| v),
            ["SCHED_FIFO 80", "1", "0,2", "true"].map(String::from)
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_cpu_the_process_cannot_use_is_refused_with_the_allowed_ones() {
        // A thread of its own: a refused call changes nothing, but keep the test
        // thread's affinity out of it either way.
        let error = std::thread::spawn(|| set_affinity("realtime.control_cpus", &[MAX_CPU]))
            .join()
            .expect("no panic")
            .expect_err("no machine here has 1024 CPUs");
        let text = error.to_string();
        assert!(text.contains("realtime.control_cpus"), "{text}");
        assert!(
            text.contains(&format!("pinning to CPUs {MAX_CPU}")),
            "{text}"
        );
        assert!(text.contains("may run on CPUs 0"), "{text}");
    }
}
