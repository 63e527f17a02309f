//! What `augur run` settles before the node starts: the package's default parameters
//! (`<model>/node.yaml`), `--params-file`s, `-p` and `--trigger` merged into typed
//! [`NodeParams`], and the node's name, namespace and topics after remapping.

use std::path::Path;

use anyhow::Context;
use augur_runtime::control::Trigger;
use augur_runtime::model::manifest::Manifest;

use super::params::NodeParams;
use super::Topics;
use crate::ros_args::{parse_ros_args, resolve_topic, ParamValue, RosArgs};

/// Node name unless remapped with `-r __node:=`.
pub const NODE_NAME: &str = "augur";

/// Everything `run` resolved before starting: the package's manifest (read once,
/// here), parameters and names.
pub struct Resolved {
    /// The model package's manifest.
    pub manifest: Manifest,
    /// Typed parameters.
    pub params: NodeParams,
    /// Resolved topic names.
    pub topics: Topics,
    /// Node name and namespace.
    pub node_name: String,
    /// Node namespace.
    pub namespace: String,
    /// `--enclave` (DDS Security).
    pub enclave: Option<String>,
}

/// Merges the package defaults (`<model>/node.yaml`), `--params-file`s and `-p`, and
/// resolves names.
pub fn resolve(
    model: &Path,
    trigger: Option<Trigger>,
    ros_args: &[String],
) -> anyhow::Result<Resolved> {
    let manifest = Manifest::load(model)?;
    let mut args = Vec::new();
    let defaults = model.join("node.yaml");
    if defaults.exists() {
        args.push("--params-file".to_string());
        args.push(defaults.display().to_string());
    }
    args.extend(ros_args.iter().cloned());
    let RosArgs {
        node_name,
        namespace,
        remaps,
        mut params,
        enclave,
        ..
    } = parse_ros_args(&args, NODE_NAME)?;
    if let Some(trigger) = trigger {
        params.insert(
            "trigger".into(),
            ParamValue::String(trigger.as_str().into()),
        );
    }
    let params_typed = NodeParams::from_params(&params, model.to_path_buf(), &manifest)
        .context("node parameters")?;
    let node_name = node_name.unwrap_or_else(|| NODE_NAME.into());
    let namespace = namespace.unwrap_or_else(|| "/".into());
    let resolve = |name: &str| resolve_topic(name, &namespace, &node_name, &remaps);
    let topics = Topics {
        command: resolve(&params_typed.command_topic)?,
        predicted_path: resolve("~/predicted_path")?,
        model_view: resolve("~/model_view")?,
        imagined: resolve("~/imagined")?,
        diagnostics: resolve("/diagnostics")?,
        clock: resolve("/clock")?,
        sources: params_typed
            .observation
            .sources()
            .iter()
            .map(|s| resolve(&s.topic))
            .collect::<Result<_, _>>()?,
    };
    Ok(Resolved {
        manifest,
        params: params_typed,
        topics,
        node_name,
        namespace,
        enclave,
    })
}
