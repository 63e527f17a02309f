//! `augur replay FILE.mcap`: runs the recorded cycles again through a control loop
//! built from the recording's model and parameters, and reports whether every
//! command is bit-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use augur_runtime::record::replay::{replay, ReplayReport};
use augur_runtime::record::{CycleRecord, Recording};

use crate::node::build_control;
use crate::node::launch::resolve;
use crate::node::record::{
    package_digest, CYCLE_TOPIC, MODEL_DIGEST_KEY, MODEL_KEY, PARAM_KEY_PREFIX, RUN_METADATA_NAME,
};

/// Arguments of `augur replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A recording made with `augur run --record`.
    pub recording: PathBuf,
    /// The model package to use instead of the folder named in the recording. Its
    /// digest must still match.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

/// Runs the check; an error (exit code 1) unless every command is bit-identical.
pub fn run(args: Args) -> anyhow::Result<()> {
    let report = replay_file(&args.recording, args.model.as_deref())?;
    println!(
        "{}: {} cycles replayed ({} planned), {} missing, {} commands differ",
        args.recording.display(),
        report.cycles,
        report.planned,
        report.missing,
        report.mismatched
    );
    for mismatch in &report.mismatches {
        println!(
            "  cycle {}: recorded {:?}, replayed {:?} (model calls {} / {})",
            mismatch.cycle,
            mismatch.recorded,
            mismatch.replayed,
            mismatch.model_calls.0,
            mismatch.model_calls.1
        );
    }
    if report.is_identical() {
        println!("every command is bit-identical");
        Ok(())
    } else if report.cycles == 0 {
        bail!("the recording holds no {CYCLE_TOPIC} messages")
    } else {
        bail!("the replay is not bit-identical")
    }
}

/// What a recording holds for a replay: the run's metadata (model, digest,
/// parameters) and its cycle records in cycle order.
pub struct RecordedRun {
    pub metadata: BTreeMap<String, String>,
    pub records: Vec<CycleRecord>,
}

/// Reads the run metadata and decodes every cycle record of `recording`; an error
/// names the file and, for a bad record, its index.
pub fn recorded_run(recording: &Recording) -> anyhow::Result<RecordedRun> {
    let path = recording.path();
    let metadata = recording
        .metadata(RUN_METADATA_NAME)?
        .into_iter()
        .next()
        .with_context(|| {
            format!(
                "{}: no `{RUN_METADATA_NAME}` metadata (was it recorded by `augur run --record`?)",
                path.display()
            )
        })?;
    let mut records = Vec::new();
    for (index, message) in recording.messages_on(CYCLE_TOPIC)?.iter().enumerate() {
        records.push(
            CycleRecord::decode(&message.data)
                .with_context(|| format!("{}: {CYCLE_TOPIC} message {index}", path.display()))?,
        );
    }
    records.sort_by_key(|record| record.cycle);
    Ok(RecordedRun { metadata, records })
}

/// Replays `path`; `model` overrides the package folder the recording names.
pub fn replay_file(path: &Path, model: Option<&Path>) -> anyhow::Result<ReplayReport> {
    let recording = Recording::open(path)?;
    let RecordedRun { metadata, records } = recorded_run(&recording)?;
    let model = match model {
        Some(model) => model.to_path_buf(),
        None => PathBuf::from(required(&metadata, MODEL_KEY, path)?),
    };
    let recorded_digest = required(&metadata, MODEL_DIGEST_KEY, path)?;
    let digest = package_digest(&model)?;
    if digest != recorded_digest {
        bail!(
            "model package {} (sha256 {}) is not the one recorded in {} (sha256 {})",
            model.display(),
            &digest[..12],
            path.display(),
            recorded_digest.chars().take(12).collect::<String>()
        );
    }

    // Every recorded parameter, as `-p name:=value`, over the package defaults.
    let mut ros_args = vec!["--ros-args".to_string()];
    for (key, value) in &metadata {
        if let Some(name) = key.strip_prefix(PARAM_KEY_PREFIX) {
            ros_args.push("-p".into());
            ros_args.push(format!("{name}:={value}"));
        }
    }
    let resolved = resolve(&model, None, &ros_args)
        .with_context(|| format!("the parameters recorded in {}", path.display()))?;
    let mut control = build_control(&resolved.params, &resolved.manifest)?;
    Ok(replay(
        &mut control,
        records,
        resolved.params.runner.max_transitions,
    ))
}

fn required<'a>(
    metadata: &'a BTreeMap<String, String>,
    key: &str,
    path: &Path,
) -> anyhow::Result<&'a str> {
    metadata.get(key).map(String::as_str).with_context(|| {
        format!(
            "{}: `{RUN_METADATA_NAME}` metadata has no `{key}`",
            path.display()
        )
    })
}
