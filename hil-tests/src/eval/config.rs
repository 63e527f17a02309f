//! The evaluation file (`augur eval FILE.toml`): which learned simulator, against
//! which reference plant, which policies, on which seeds, for how long. Relative paths
//! are relative to the file's own directory, as Cargo resolves a manifest's paths, so
//! an evaluation runs the same from any working directory.
//!
//! ```toml
//! name = "pendulum"
//! [simulator]
//! package = "../pendulum"          # a model package with a decoder graph
//! rollout = "reencode"             # or "latent" (see plants::learned::Rollout)
//! [reference]
//! plant = "pendulum"               # the gymnasium-exact pendulum in process; or "reacher"
//! starts = "gymnasium"             # pendulum only: gymnasium's reset(seed) states
//! [episodes]
//! seeds = 20                       # seeds first_seed .. first_seed + seeds
//! steps = 200
//! [[policy]]
//! name = "tree-256"
//! kind = "planner"                 # planner | prior | zero | random | onnx
//! transitions = 256
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::closed_loop::Starts;
use crate::plants::learned::Rollout;

/// A parsed evaluation file, paths as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvalFile {
    /// Names the evaluation in reports.
    pub name: String,
    pub simulator: SimulatorSpec,
    pub reference: ReferenceSpec,
    pub episodes: EpisodesSpec,
    #[serde(default)]
    pub prediction: PredictionSpec,
    /// The policies, in report order.
    #[serde(rename = "policy")]
    pub policies: Vec<PolicySpec>,
}

/// `[simulator]`: the learned simulator.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// Model package with a decoder graph.
    pub package: PathBuf,
    /// How the simulator carries its state.
    #[serde(default)]
    pub rollout: Rollout,
}

/// The reference plant an evaluation trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantKind {
    /// The gymnasium-exact `Pendulum-v1` in process.
    Pendulum,
    /// gymnasium's MuJoCo `Reacher-v5`, stepped by `hil-tests/py/reacher_step.py`.
    Reacher,
}

/// `[reference]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    pub plant: PlantKind,
    /// Pendulum start states (default gymnasium's own).
    #[serde(default)]
    pub starts: Option<Starts>,
}

/// `[episodes]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodesSpec {
    /// First seed.
    #[serde(default)]
    pub first_seed: u64,
    /// How many seeds.
    pub seeds: u64,
    /// Control periods per episode.
    pub steps: usize,
}

/// `[prediction]`: the open-loop prediction error against the number of steps
/// imagined, from windows of the reference episodes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionSpec {
    /// Steps imagined per window.
    #[serde(default = "default_horizon")]
    pub horizon: usize,
    /// A window starts every `stride` steps of each reference episode.
    #[serde(default = "default_stride")]
    pub stride: usize,
}

fn default_horizon() -> usize {
    50
}

fn default_stride() -> usize {
    25
}

impl Default for PredictionSpec {
    fn default() -> Self {
        PredictionSpec {
            horizon: default_horizon(),
            stride: default_stride(),
        }
    }
}

/// What a policy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// One of Augur's planners over a model package.
    Planner,
    /// The model's policy prior alone: its mean action at the encoded observation.
    Prior,
    /// The safe (zero) action.
    Zero,
    /// Uniform random actions within the bounds, seeded.
    Random,
    /// An ONNX graph from the raw observation to the action.
    Onnx,
}

/// What an ONNX policy's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnnxOutput {
    /// The action in the plant's units.
    #[default]
    Action,
    /// An action in `[-1, 1]` per component, mapped onto the bounds (how
    /// Stable-Baselines3's SAC and TD3 actors output before `unscale_action`).
    Unit,
}

/// One `[[policy]]`. Which fields apply depends on `kind`; a field that does not
/// apply is an error, not silently ignored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub name: String,
    pub kind: PolicyKind,
    /// planner, prior: the model package (default: the simulator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PathBuf>,
    /// planner: `tree` or `mppi` (default: the package's node settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner: Option<String>,
    /// planner: model transitions per plan (the budget; deterministic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitions: Option<u64>,
    /// planner: planning horizon (default: the manifest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<usize>,
    /// planner, random: seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// planner: node parameters over the package's `node.yaml`, `NAME:=VALUE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    /// onnx: the graph file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// onnx: what its output means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OnnxOutput>,
}

impl PolicySpec {
    /// The fields set, by name, for the check that each applies to the kind.
    fn set_fields(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let mut mark = |name, is_set: bool| {
            if is_set {
                set.push(name)
            }
        };
        mark("package", self.package.is_some());
        mark("planner", self.planner.is_some());
        mark("transitions", self.transitions.is_some());
        mark("horizon", self.horizon.is_some());
        mark("seed", self.seed.is_some());
        mark("params", !self.params.is_empty());
        mark("file", self.file.is_some());
        mark("output", self.output.is_some());
        set
    }

    fn allowed_fields(&self) -> &'static [&'static str] {
        match self.kind {
            PolicyKind::Planner => &[
                "package",
                "planner",
                "transitions",
                "horizon",
                "seed",
                "params",
            ],
            PolicyKind::Prior => &["package"],
            PolicyKind::Zero => &[],
            PolicyKind::Random => &["seed"],
            PolicyKind::Onnx => &["file", "output"],
        }
    }
}

/// A loaded evaluation: the file as written and the directory its paths are
/// relative to.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub file: EvalFile,
    /// Directory of the evaluation file.
    pub base: PathBuf,
}

impl Evaluation {
    /// Reads and checks `path`. Errors name the file and the field.
    pub fn load(path: &Path) -> anyhow::Result<Evaluation> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the evaluation file {}", path.display()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Evaluation::parse(&text, base).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and checks `text`, resolving paths against `base`.
    pub fn parse(text: &str, base: PathBuf) -> anyhow::Result<Evaluation> {
        let file: EvalFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let evaluation = Evaluation { file, base };
        evaluation.check()?;
        Ok(evaluation)
    }

    /// A path of the file, resolved against its directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    /// The simulator package, resolved.
    pub fn simulator_package(&self) -> PathBuf {
        self.resolve(&self.file.simulator.package)
    }

    /// The package a planner or prior policy uses, resolved.
    pub fn policy_package(&self, policy: &PolicySpec) -> PathBuf {
        policy
            .package
            .as_deref()
            .map(|p| self.resolve(p))
            .unwrap_or_else(|| self.simulator_package())
    }

    /// The seeds, in order.
    pub fn seeds(&self) -> Vec<u64> {
        let e = &self.file.episodes;
        (e.first_seed..e.first_seed + e.seeds).collect()
    }

    /// The pendulum's start states.
    pub fn starts(&self) -> Starts {
        self.file.reference.starts.unwrap_or(Starts::Gymnasium)
    }

    fn check(&self) -> anyhow::Result<()> {
        let f = &self.file;
        if f.name.trim().is_empty() {
            bail!("`name` is empty");
        }
        if f.episodes.seeds == 0 {
            bail!("`episodes.seeds` must be at least 1");
        }
        if f.episodes.steps == 0 {
            bail!("`episodes.steps` must be at least 1");
        }
        if f.prediction.horizon == 0 || f.prediction.stride == 0 {
            bail!("`prediction.horizon` and `prediction.stride` must be at least 1");
        }
        if f.prediction.horizon > f.episodes.steps {
            bail!(
                "`prediction.horizon` ({}) is longer than an episode (`episodes.steps` = {})",
                f.prediction.horizon,
                f.episodes.steps
            );
        }
        if f.episodes
            .first_seed
            .checked_add(f.episodes.seeds)
            .is_none()
        {
            bail!("`episodes.first_seed` + `episodes.seeds` overflows");
        }
        match f.reference.plant {
            PlantKind::Pendulum => self
                .starts()
                .check(f.episodes.first_seed, f.episodes.seeds)
                .context("`episodes`")?,
            PlantKind::Reacher => {
                if f.reference.starts.is_some() {
                    bail!("`reference.starts` applies to the pendulum only (the Reacher starts from gymnasium's reset(seed))");
                }
            }
        }
        if f.policies.is_empty() {
            bail!("no `[[policy]]`: nothing to evaluate");
        }
        for (i, policy) in f.policies.iter().enumerate() {
            let at = format!("`policy[{i}]` (`{}`)", policy.name);
            if policy.name.trim().is_empty() {
                bail!("`policy[{i}].name` is empty");
            }
            if f.policies[..i].iter().any(|p| p.name == policy.name) {
                bail!("{at}: `name` is used by an earlier policy; names must be unique");
            }
            let allowed = policy.allowed_fields();
            if let Some(field) = policy
                .set_fields()
                .into_iter()
                .find(|field| !allowed.contains(field))
            {
                bail!(
                    "{at}: field `{field}` does not apply to kind `{}` (it takes: {})",
                    kind_name(policy.kind),
                    if allowed.is_empty() {
                        "no other field".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                );
            }
            match policy.kind {
                PolicyKind::Planner => {
                    match policy.transitions {
                        None => bail!(
                            "{at}: a planner needs `transitions` (model transitions per plan)"
                        ),
                        Some(0) => bail!("{at}: `transitions` must be at least 1"),
                        Some(_) => {}
                    }
                    if let Some(planner) = &policy.planner {
                        if planner != "tree" && planner != "mppi" {
                            bail!("{at}: `planner` is `{planner}`; expected `tree` or `mppi`");
                        }
                    }
                    if policy.horizon == Some(0) {
                        bail!("{at}: `horizon` must be at least 1");
                    }
                    if let Some(bad) = policy.params.iter().find(|p| !p.contains(":=")) {
                        bail!("{at}: `params` entry `{bad}` is not NAME:=VALUE");
                    }
                }
                PolicyKind::Onnx => {
                    let Some(file) = &policy.file else {
                        bail!("{at}: an onnx policy needs `file`");
                    };
                    let path = self.resolve(file);
                    if !path.is_file() {
                        bail!("{at}: `file` {} does not exist", path.display());
                    }
                }
                PolicyKind::Prior | PolicyKind::Zero | PolicyKind::Random => {}
            }
        }
        Ok(())
    }
}

/// The kind as the file spells it.
pub fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Planner => "planner",
        PolicyKind::Prior => "prior",
        PolicyKind::Zero => "zero",
        PolicyKind::Random => "random",
        PolicyKind::Onnx => "onnx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
[simulator]
package = "models/pendulum"
[reference]
plant = "pendulum"
[episodes]
seeds = 3
steps = 60
[[policy]]
name = "zero"
kind = "zero"
[[policy]]
name = "tree"
kind = "planner"
transitions = 64
params = ["command.change_cost:=0.1"]
"#;

    fn parse(text: &str) -> anyhow::Result<Evaluation> {
        Evaluation::parse(text, PathBuf::from("."))
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("must be refused"))
    }

    #[test]
    fn a_good_file_parses_with_defaults() {
        let e = parse(GOOD).unwrap();
        assert_eq!(e.seeds(), vec![0, 1, 2]);
        assert_eq!(e.file.prediction, PredictionSpec::default());
        assert_eq!(e.file.simulator.rollout, Rollout::Reencode);
        assert_eq!(e.starts(), Starts::Gymnasium);
        assert_eq!(e.file.policies[1].transitions, Some(64));
    }

    #[test]
    fn a_misspelt_field_is_named() {
        let text = GOOD.replace("transitions = 64", "transitons = 64");
        let e = error(&text);
        assert!(e.contains("transitons"), "{e}");
        let text = GOOD.replace("steps = 60", "steps = \"sixty\"");
        let e = error(&text);
        assert!(e.contains("steps"), "{e}");
    }

    #[test]
    fn a_field_of_another_kind_is_named() {
        let text = GOOD.replace("kind = \"zero\"", "kind = \"zero\"\ntransitions = 8");
        let e = error(&text);
        assert!(
            e.contains("`policy[0]` (`zero`): field `transitions` does not apply to kind `zero`"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases = [
            (
                GOOD.replace("transitions = 64\n", ""),
                "needs `transitions`",
            ),
            (GOOD.replace("seeds = 3", "seeds = 0"), "`episodes.seeds`"),
            (
                GOOD.replace("steps = 60", "steps = 60\n[prediction]\nhorizon = 61"),
                "`prediction.horizon` (61) is longer than an episode",
            ),
            (
                GOOD.replace("seeds = 3", "seeds = 3\nfirst_seed = 299"),
                "--starts gymnasium has seeds 0..300",
            ),
            (
                GOOD.replace("name = \"tree\"", "name = \"zero\""),
                "`name` is used by an earlier policy",
            ),
            (
                GOOD.replace(
                    "kind = \"planner\"",
                    "kind = \"planner\"\nplanner = \"rrt\"",
                ),
                "`planner` is `rrt`",
            ),
            (
                GOOD.replace("command.change_cost:=0.1", "command.change_cost=0.1"),
                "`params` entry",
            ),
            (
                GOOD.replace(
                    "kind = \"zero\"",
                    "kind = \"onnx\"\nfile = \"nowhere.onnx\"",
                ),
                "`file` ./nowhere.onnx does not exist",
            ),
            (
                GOOD.replace("kind = \"zero\"", "kind = \"sb3\""),
                "unknown variant `sb3`",
            ),
        ];
        for (text, expected) in cases {
            let e = error(&text);
            assert!(e.contains(expected), "expected `{expected}` in: {e}");
        }
    }
}
