//! `augur sim`, `augur hil`, `augur bench-node`, `augur bench-quality`,
//! `augur bench-control`: the bench tools are a separate binary, `augur-hil` (crate `augur-hil`), so the on-robot
//! binary carries no plant, bench runner or plotting code. As `git` and `cargo` do
//! with their external subcommands, `augur` finds `augur-hil` beside itself (cargo
//! builds both into `target/<profile>/`) or on `PATH`, and replaces itself with it,
//! so signals, exit status and terminal reach the bench tool unchanged.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context as _};

/// The subcommands `augur-hil` implements, with their one-line help.
pub const BENCH_COMMANDS: [(&str, &str); 6] = [
    (
        "sim",
        "Run the main job on the built-in default: the simulated pendulum",
    ),
    (
        "hil",
        "Run bench scenarios (faults injected between a plant and the real node)",
    ),
    (
        "bench-node",
        "Measure the node's latency, period jitter and memory over a real transport",
    ),
    (
        "bench-quality",
        "Measure plan quality per millisecond: closed-loop returns of both planners",
    ),
    (
        "bench-control",
        "Measure control quality: return, torque chatter and steady-state error of settings",
    ),
    (
        "eval",
        "Rank policies in a learned simulator against the reference plant",
    ),
];

/// The bench binary's name.
pub const BENCH_BINARY: &str = "augur-hil";

/// The executable `name` beside this one (cargo builds a workspace's binaries into
/// one `target/<profile>/`), else on `PATH`; the error says where it looked and
/// `hint`, how to get it.
pub fn sibling_binary(name: &str, hint: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    if let Some(beside) = exe.parent().map(|dir| dir.join(name)) {
        if beside.is_file() {
            return Ok(beside);
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path.with_context(|| {
        format!(
            "`{name}` is neither beside {} nor on PATH: {hint}",
            exe.display()
        )
    })
}

/// Where `augur-hil` is: beside this executable, else on `PATH`.
pub fn bench_binary() -> anyhow::Result<PathBuf> {
    sibling_binary(
        BENCH_BINARY,
        "the bench tools are that binary; build it with `cargo build --release -p augur-hil`",
    )
}

/// Runs `augur-hil <args...>` in place of this process (`args[0]` is the subcommand).
/// Returns only on failure.
pub fn exec(args: Vec<OsString>) -> anyhow::Result<()> {
    let name = args
        .first()
        .and_then(|a| a.to_str())
        .unwrap_or_default()
        .to_string();
    if !BENCH_COMMANDS.iter().any(|(command, _)| *command == name) {
        let known: Vec<&str> = BENCH_COMMANDS.iter().map(|(c, _)| *c).collect();
        bail!(
            "unrecognized subcommand `{name}` (on-robot commands: run, replay, check-model, \
             compile, bench-model, bench-plan; bench tools: {}); see `augur --help`",
            known.join(", ")
        );
    }
    let binary = bench_binary()?;
    let mut command = std::process::Command::new(&binary);
    command.args(&args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        Err(error).with_context(|| format!("starting {}", binary.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("starting {}", binary.display()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// The bench tools for `augur --help`.
pub fn help() -> String {
    let mut text =
        format!("Bench tools (the `{BENCH_BINARY}` binary, found beside `augur` or on PATH):\n");
    for (command, about) in BENCH_COMMANDS {
        text.push_str(&format!("  {command:<14} {about}\n"));
    }
    text
}
