//! Bench scenarios: what `augur hil` runs (plant, model, node parameters, how long),
//! which faults it injects when, and the thresholds the run is judged against.
//!
//! One TOML file per scenario in `hil-tests/scenarios/`, parsed strictly: an unknown
//! key is an error naming the file and the key, so a typo never silently disables a
//! check. Times are seconds from the start of the run (after the node and the plant
//! have discovered each other).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use augur_runtime::control::Trigger;
use serde::{Deserialize, Serialize};

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no scenario named `{name}` in {dir} (available: {available})")]
    NotFound {
        name: String,
        dir: PathBuf,
        available: String,
    },
}

/// The robot stand-in on the other side of the node's interfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantKind {
    /// The gymnasium-exact pendulum, stepped in real time by the runner.
    Pendulum,
    /// gymnasium `Reacher-v5` behind `hil-tests/py/reacher_plant.py` (rclpy).
    Reacher,
    /// The pendulum robot simulated by a world model package with a decoder
    /// (`[simulator]`), stepped in real time by the runner like the physics pendulum.
    Learned,
    /// The gymnasium-exact pendulum seen only through its camera: the runner steps
    /// it in real time and publishes the frames gymnasium's renderer draws
    /// (`plants::render`, 500x500 rgb8) on the model's one image source.
    PendulumCamera,
}

impl PlantKind {
    /// Whether the runner steps a pendulum (physics, learned or through a camera).
    pub fn is_pendulum(self) -> bool {
        !matches!(self, PlantKind::Reacher)
    }
}

/// How a `corrupt_image` fault breaks each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageDefect {
    /// An encoding the node does not read (`yuv422`).
    Encoding,
    /// `step * height` longer than the data (a truncated frame).
    Step,
    /// 0x0 pixels.
    Empty,
}

/// `[simulator]`: the learned simulator of a `plant = "learned"` scenario.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// The simulator's model package, relative to the workspace (default: the
    /// scenario's `model`, i.e. the node plans in the very model that simulates it).
    pub model: Option<PathBuf>,
    /// How the simulator carries its state: `reencode` (default) or `latent`.
    #[serde(default)]
    pub rollout: crate::plants::learned::Rollout,
    /// Also run the same scenario on the physics pendulum and report the returns of
    /// both (default true).
    #[serde(default = "yes")]
    pub compare_physics: bool,
}

impl Default for SimulatorSpec {
    fn default() -> Self {
        SimulatorSpec {
            model: None,
            rollout: Default::default(),
            compare_physics: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// `--trigger` of the node.
/// A sensor field a value fault overwrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorField {
    Position,
    Velocity,
}

/// What a fault does. Sensor faults act in the fault proxy between the plant's
/// sensor topic and the node's; the others act on the node's process.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// The sensor goes silent.
    SensorDropout {},
    /// Every message is held back `delay` ± `jitter` seconds (uniform).
    Delay { delay: f64, jitter: f64 },
    /// `field` of every joint carries a non-finite value (`nan`, `inf`, `-inf`).
    NonFinite { field: SensorField, value: String },
    /// `field` of every joint carries `value` (finite, physically absurd).
    OutOfRange { field: SensorField, value: f64 },
    /// `position` has one element more than `name` (malformed at ingest).
    WrongLength {},
    /// Joint names the node does not know replace the real ones (malformed).
    UnknownJoint {},
    /// The last sensor message is re-published at `rate_hz` on top of the stream.
    Flood { rate_hz: f64 },
    /// `processes` busy-looping processes compete with the node for the CPU.
    CpuStarvation { processes: usize },
    /// The node is killed (SIGKILL) at `start`; the runner restarts it after
    /// `duration`.
    KillRestart {},
    /// The plant goes down at `start` (its DDS participant is torn down: the sensor
    /// topic's publisher disappears) and comes back after `duration` as a new
    /// participant, from a fresh start state, as a restarted simulator does.
    PlantRestart {},
    /// `/clock` jumps by `jump` seconds at `start` (negative: backwards, as a
    /// simulator reset does) and runs on from there. Needs `sim_time = true`.
    ClockJump { jump: f64 },
    /// Every frame is broken as `defect` says (camera plants): each is refused at
    /// ingest as malformed, so the controller's sensor is silent.
    CorruptImage { defect: ImageDefect },
    /// The camera switches to `width` x `height` frames of the same scene (camera
    /// plants), and back when the window ends: control carries on.
    Resolution { width: u32, height: u32 },
}

impl FaultKind {
    /// The snake_case name, as in the file.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::SensorDropout {} => "sensor_dropout",
            FaultKind::Delay { .. } => "delay",
            FaultKind::NonFinite { .. } => "non_finite",
            FaultKind::OutOfRange { .. } => "out_of_range",
            FaultKind::WrongLength {} => "wrong_length",
            FaultKind::UnknownJoint {} => "unknown_joint",
            FaultKind::Flood { .. } => "flood",
            FaultKind::CpuStarvation { .. } => "cpu_starvation",
            FaultKind::KillRestart {} => "kill_restart",
            FaultKind::PlantRestart {} => "plant_restart",
            FaultKind::ClockJump { .. } => "clock_jump",
            FaultKind::CorruptImage { .. } => "corrupt_image",
            FaultKind::Resolution { .. } => "resolution",
        }
    }

    /// Whether the node receives no usable observation while the fault lasts, so
    /// it must command the safe action once `sensor_timeout` has passed.
    pub fn silences_sensor(&self) -> bool {
        matches!(
            self,
            FaultKind::SensorDropout {}
                | FaultKind::WrongLength {}
                | FaultKind::UnknownJoint {}
                | FaultKind::PlantRestart {}
                | FaultKind::CorruptImage { .. }
        )
    }

    /// Whether every message in the window is dropped at ingest as malformed.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            FaultKind::WrongLength {} | FaultKind::UnknownJoint {} | FaultKind::CorruptImage { .. }
        )
    }

    /// Whether the fault rewrites joint values or names (no camera sends them).
    pub fn needs_joints(&self) -> bool {
        matches!(
            self,
            FaultKind::NonFinite { .. }
                | FaultKind::OutOfRange { .. }
                | FaultKind::WrongLength {}
                | FaultKind::UnknownJoint {}
        )
    }

    /// Whether the fault acts on camera frames.
    pub fn needs_camera(&self) -> bool {
        matches!(
            self,
            FaultKind::CorruptImage { .. } | FaultKind::Resolution { .. }
        )
    }

    /// The non-finite value this fault writes, if it is a `non_finite` fault.
    pub fn non_finite_value(&self) -> Option<f64> {
        match self {
            FaultKind::NonFinite { value, .. } => match value.as_str() {
                "nan" => Some(f64::NAN),
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }
}

/// One injected fault. (Unknown keys are refused by [`FaultKind`], which receives
/// every key but `start` and `duration`; serde cannot deny them on a flattening
/// struct.)
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Fault {
    /// Start, s from the start of the run.
    pub start: f64,
    /// Length, s.
    pub duration: f64,
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl Fault {
    /// End of the window, s.
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }
}

/// What the run is judged against. Unset thresholds are not judged; the acceptance
/// rules (node alive, safe command after a sensor fault, control resumes, the
/// `/diagnostics` counts match the injected faults) always are.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Mean return over the complete episodes must be at least this.
    pub min_mean_return: Option<f64>,
    /// The mean return must beat these baselines of the model's
    /// `evaluation.jsonl` (`planner` names, e.g. `zero`, `random`).
    #[serde(default)]
    pub beat_baselines: Vec<String>,
    /// Safe command at the plant at most this long after `sensor_timeout` ran out
    /// (default: one control period).
    pub max_safe_latency: Option<f64>,
    /// Added to `max_safe_latency` for the two transport hops and the safe cycle's
    /// own compute, s (default 0.01).
    pub latency_tolerance: Option<f64>,
    /// Planned (non-safe) commands again at most this long after the fault clears
    /// (default 1 s; after a restart, `max_restart_time`).
    pub max_resume_time: Option<f64>,
    /// From kill to the restarted node's first command, s (default 60).
    pub max_restart_time: Option<f64>,
    /// Resident memory growth of the node from the end of warm-up to the end, KiB.
    pub max_rss_growth_kib: Option<u64>,
    /// Deadline misses outside the windows of faults that explain them
    /// (CPU starvation, flood, kill).
    pub max_unexplained_deadline_misses: Option<u64>,
    /// Extra `/diagnostics` values the last report must carry (exact integers),
    /// on top of the counts derived from the injected faults.
    #[serde(default)]
    pub diagnostics: BTreeMap<String, u64>,
}

/// One bench scenario.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub plant: PlantKind,
    /// Model package, relative to the workspace root.
    pub model: PathBuf,
    #[serde(default = "default_trigger")]
    pub trigger: Trigger,
    /// Node parameters, `name:=value` (passed as `-p`).
    #[serde(default)]
    pub params: Vec<String>,
    /// Length of the run, s (pendulum).
    pub duration: Option<f64>,
    /// Episodes (reacher; pendulum: the plant is reset every `episode_duration`).
    pub episodes: Option<u32>,
    /// Pendulum episode length, s (default 10: gymnasium's 200 steps).
    pub episode_duration: Option<f64>,
    /// Seed of the first episode's start state; episode k uses `seed + k`.
    #[serde(default)]
    pub seed: u64,
    /// Not part of `augur hil all --quick` (soak runs).
    #[serde(default)]
    pub slow: bool,
    /// Seconds of the node's resident memory to ignore as warm-up (default 10 % of
    /// the run).
    pub warmup: Option<f64>,
    /// The node runs on simulated time (`use_sim_time:=true`) and the bench
    /// publishes `/clock` at 200 Hz, running at wall-clock rate.
    #[serde(default)]
    pub sim_time: bool,
    /// The learned simulator (`plant = "learned"` only).
    pub simulator: Option<SimulatorSpec>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default)]
    pub thresholds: Thresholds,
}

fn default_trigger() -> Trigger {
    Trigger::Rate
}

/// Quick runs: a fault starts at most this long after the previous one's end (or the
/// start of the run) ...
const QUICK_GAP: f64 = 2.0;
/// ... lasts at most this long ...
const QUICK_FAULT: f64 = 1.0;
/// ... and the run ends this long after the last one.
const QUICK_TAIL: f64 = 2.0;

impl Scenario {
    /// Parses and checks the scenario in `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses `text` (from `path`, for messages) and checks it.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        scenario.check().map_err(|message| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("name `{}` must be [A-Za-z0-9_]+", self.name));
        }
        match self.plant {
            PlantKind::Pendulum if self.duration.is_none_or(|d| d <= 0.0) => {
                return Err("a pendulum scenario needs `duration` > 0".into())
            }
            PlantKind::Reacher if self.episodes.is_none_or(|e| e == 0) => {
                return Err("a reacher scenario needs `episodes` > 0".into())
            }
            PlantKind::Reacher if !self.faults.is_empty() => {
                return Err("faults are injected on the pendulum bench only".into())
            }
            PlantKind::Learned if self.duration.is_none_or(|d| d <= 0.0) => {
                return Err("a learned-simulator scenario needs `duration` > 0".into())
            }
            PlantKind::PendulumCamera if self.duration.is_none_or(|d| d <= 0.0) => {
                return Err("a camera pendulum scenario needs `duration` > 0".into())
            }
            PlantKind::Reacher if self.sim_time => {
                return Err("`sim_time` is supported on the pendulum bench only".into())
            }
            _ => {}
        }
        if self.simulator.is_some() && self.plant != PlantKind::Learned {
            return Err("`[simulator]` needs `plant = \"learned\"`".into());
        }
        for param in &self.params {
            if !param.contains(":=") {
                return Err(format!("parameter `{param}` is not `name:=value`"));
            }
        }
        let length = self.duration.unwrap_or(f64::INFINITY);
        for (i, fault) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}] ({})", fault.kind.name());
            let camera = self.plant == PlantKind::PendulumCamera;
            if camera && fault.kind.needs_joints() {
                return Err(format!(
                    "{at}: the camera plant sends frames, not joint values (use corrupt_image, resolution, sensor_dropout, delay or flood)"
                ));
            }
            if !camera && fault.kind.needs_camera() {
                return Err(format!(
                    "{at}: acts on camera frames: needs `plant = \"pendulum_camera\"`"
                ));
            }
            if !(fault.start > 0.0 && fault.duration > 0.0 && fault.end() < length) {
                return Err(format!(
                    "{at}: needs 0 < start, 0 < duration and start + duration < duration of the run"
                ));
            }
            match &fault.kind {
                FaultKind::NonFinite { .. } if fault.kind.non_finite_value().is_none() => {
                    return Err(format!("{at}: value must be \"nan\", \"inf\" or \"-inf\""))
                }
                FaultKind::OutOfRange { value, .. } if !value.is_finite() => {
                    return Err(format!("{at}: value must be finite (use non_finite)"))
                }
                FaultKind::Delay { delay, jitter }
                    if *delay < 0.0 || *jitter < 0.0 || jitter > delay =>
                {
                    return Err(format!("{at}: needs 0 <= jitter <= delay"))
                }
                FaultKind::Flood { rate_hz } if !(*rate_hz > 0.0 && *rate_hz <= 100_000.0) => {
                    return Err(format!("{at}: rate_hz must be in (0, 100000]"))
                }
                FaultKind::CpuStarvation { processes } if *processes == 0 || *processes > 64 => {
                    return Err(format!("{at}: processes must be in 1..=64"))
                }
                FaultKind::ClockJump { .. } if !self.sim_time => {
                    return Err(format!(
                        "{at}: the node only follows /clock with `sim_time = true`"
                    ))
                }
                FaultKind::Resolution { width, height }
                    if !(8..=3840).contains(width)
                        || !(8..=3840).contains(height)
                        || u64::from(*width) * u64::from(*height) > 3840 * 2160 =>
                {
                    return Err(format!(
                        "{at}: width and height must be in 8..=3840, at most 3840x2160 pixels"
                    ))
                }
                FaultKind::ClockJump { jump } if !jump.is_finite() || *jump == 0.0 => {
                    return Err(format!(
                        "{at}: jump must be a finite, non-zero number of seconds"
                    ))
                }
                _ => {}
            }
            if let Some(previous) = i.checked_sub(1).map(|j| &self.faults[j]) {
                if fault.start < previous.end() {
                    return Err(format!("{at}: overlaps the fault before it"));
                }
            }
        }
        Ok(())
    }

    /// The same scenario, shortened: each fault lasts at most 1 s and starts at most
    /// 2 s after the previous one ended, and the run ends 2 s after the last fault.
    /// Scenarios without faults keep their length.
    pub fn quick(&self) -> Scenario {
        let mut quick = self.clone();
        if quick.faults.is_empty() {
            return quick;
        }
        let mut previous_end = 0.0;
        let mut original_previous_end = 0.0;
        for fault in &mut quick.faults {
            let gap = (fault.start - original_previous_end).min(QUICK_GAP);
            original_previous_end = fault.end();
            fault.start = previous_end + gap;
            fault.duration = fault.duration.min(QUICK_FAULT);
            previous_end = fault.end();
        }
        if let Some(duration) = &mut quick.duration {
            *duration = duration.min(previous_end + QUICK_TAIL);
        }
        quick
    }
}

/// Every scenario file (`*.toml`) in `dir`, sorted by name.
pub fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// A scenario given as a file path or as the name of a file in `dir`.
pub fn find_scenario(name_or_path: &str, dir: &Path) -> Result<PathBuf, ScenarioError> {
    let as_path = Path::new(name_or_path);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let in_dir = dir.join(format!("{name_or_path}.toml"));
    if in_dir.is_file() {
        return Ok(in_dir);
    }
    let available = scenario_files(dir)?
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ScenarioError::NotFound {
        name: name_or_path.into(),
        dir: dir.to_path_buf(),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error parsing `text` (from `path`) gives: it must fail.
    fn parse_error(text: &str, path: &str) -> String {
        Scenario::parse(text, Path::new(path))
            .unwrap_err()
            .to_string()
    }

    const DROPOUT: &str = r#"
name = "dropout"
description = "sensor silent"
plant = "pendulum"
model = "models/pendulum"
params = ["max_transitions:=256"]
duration = 20.0

[[faults]]
kind = "sensor_dropout"
start = 5.0
duration = 3.0

[[faults]]
kind = "delay"
start = 12.0
duration = 4.0
delay = 0.05
jitter = 0.02

[thresholds]
max_resume_time = 1.5
diagnostics = { "faults.stale_observation" = 1 }
"#;

    #[test]
    fn a_scenario_parses_with_kind_specific_settings() {
        let s = Scenario::parse(DROPOUT, Path::new("dropout.toml")).unwrap();
        assert_eq!(s.plant, PlantKind::Pendulum);
        assert_eq!(s.trigger, Trigger::Rate);
        assert_eq!(s.faults[0].kind, FaultKind::SensorDropout {});
        assert_eq!(
            s.faults[1].kind,
            FaultKind::Delay {
                delay: 0.05,
                jitter: 0.02
            }
        );
        assert_eq!(s.thresholds.max_resume_time, Some(1.5));
        assert_eq!(s.thresholds.diagnostics["faults.stale_observation"], 1);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_file_and_the_key() {
        for (text, key) in [
            (
                DROPOUT
                    .replace("seed", "sed")
                    .replace("duration = 20.0", "duration = 20.0\nfoo = 1"),
                "foo",
            ),
            (
                DROPOUT.replace("max_resume_time", "max_resume_tim"),
                "max_resume_tim",
            ),
            (
                DROPOUT.replace("jitter = 0.02", "jitter = 0.02\nspread = 1"),
                "spread",
            ),
            (
                DROPOUT.replace("start = 5.0", "start = 5.0\nlevel = 1"),
                "level",
            ),
        ] {
            let error = parse_error(&text, "scenarios/x.toml");
            assert!(error.contains("scenarios/x.toml"), "{error}");
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn a_fault_outside_the_run_or_overlapping_is_refused() {
        let late = DROPOUT.replace("start = 12.0", "start = 18.0");
        let error = parse_error(&late, "x.toml");
        assert!(error.contains("faults[1] (delay)"), "{error}");
        let overlap = DROPOUT.replace("start = 12.0", "start = 7.0");
        let error = parse_error(&overlap, "x.toml");
        assert!(error.contains("overlaps"), "{error}");
        let nan = DROPOUT.replace(
            "kind = \"sensor_dropout\"",
            "kind = \"non_finite\"\nfield = \"position\"\nvalue = \"nope\"",
        );
        let error = parse_error(&nan, "x.toml");
        assert!(error.contains("\"nan\""), "{error}");
    }

    #[test]
    fn a_clock_jump_needs_sim_time_and_simulator_settings_need_a_learned_plant() {
        let jump = DROPOUT.replace(
            "kind = \"sensor_dropout\"",
            "kind = \"clock_jump\"\njump = -3.0",
        );
        let error = parse_error(&jump, "x.toml");
        assert!(error.contains("faults[0] (clock_jump)"), "{error}");
        assert!(error.contains("sim_time = true"), "{error}");
        let with_sim_time = jump.replace("duration = 20.0", "duration = 20.0\nsim_time = true");
        let s = Scenario::parse(&with_sim_time, Path::new("x.toml")).unwrap();
        assert_eq!(s.faults[0].kind, FaultKind::ClockJump { jump: -3.0 });
        assert!(!s.faults[0].kind.silences_sensor());

        let simulator = DROPOUT.replace(
            "[thresholds]",
            "[simulator]\nrollout = \"latent\"\n\n[thresholds]",
        );
        let error = parse_error(&simulator, "x.toml");
        assert!(error.contains("plant = \"learned\""), "{error}");
        let learned = simulator.replace("plant = \"pendulum\"", "plant = \"learned\"");
        let s = Scenario::parse(&learned, Path::new("x.toml")).unwrap();
        let spec = s.simulator.unwrap();
        assert_eq!(spec.rollout, crate::plants::learned::Rollout::Latent);
        assert!(spec.compare_physics && spec.model.is_none());
    }

    #[test]
    fn camera_faults_need_the_camera_plant_and_joint_faults_refuse_it() {
        let camera = DROPOUT
            .replace("plant = \"pendulum\"", "plant = \"pendulum_camera\"")
            .replace("models/pendulum\"", "models/pendulum-pixels\"");
        // Dropout and delay apply to frames as to joint states.
        let s = Scenario::parse(&camera, Path::new("x.toml")).unwrap();
        assert_eq!(s.plant, PlantKind::PendulumCamera);
        let corrupt = camera.replace(
            "kind = \"sensor_dropout\"",
            "kind = \"corrupt_image\"\ndefect = \"step\"",
        );
        let s = Scenario::parse(&corrupt, Path::new("x.toml")).unwrap();
        assert_eq!(
            s.faults[0].kind,
            FaultKind::CorruptImage {
                defect: ImageDefect::Step
            }
        );
        assert!(s.faults[0].kind.silences_sensor() && s.faults[0].kind.is_malformed());
        let resolution = camera.replace(
            "kind = \"sensor_dropout\"",
            "kind = \"resolution\"\nwidth = 320\nheight = 240",
        );
        let s = Scenario::parse(&resolution, Path::new("x.toml")).unwrap();
        assert!(!s.faults[0].kind.silences_sensor() && !s.faults[0].kind.is_malformed());
        for (text, expect) in [
            (
                resolution.replace("width = 320", "width = 0"),
                "width and height must be in 8..=3840",
            ),
            (
                camera.replace("kind = \"sensor_dropout\"", "kind = \"wrong_length\""),
                "frames, not joint values",
            ),
            (
                corrupt.replace("defect = \"step\"", "defect = \"blurry\""),
                "unknown variant `blurry`",
            ),
            (
                corrupt.replace("plant = \"pendulum_camera\"", "plant = \"pendulum\""),
                "plant = \"pendulum_camera\"",
            ),
        ] {
            let error = parse_error(&text, "x.toml");
            assert!(error.contains(expect), "{expect}: {error}");
        }
    }

    #[test]
    fn quick_caps_faults_and_gaps_and_keeps_their_order() {
        let s = Scenario::parse(DROPOUT, Path::new("x.toml"))
            .unwrap()
            .quick();
        assert_eq!((s.faults[0].start, s.faults[0].duration), (2.0, 1.0));
        assert_eq!((s.faults[1].start, s.faults[1].duration), (5.0, 1.0));
        assert_eq!(s.duration, Some(8.0));
    }
}
