//! Loading one graph of a package with tract and checking it against the manifest.
//!
//! The result is a decluttered [`TypedModel`] whose inputs and outputs are in the
//! manifest's role order, with the batch dimension still symbolic. Fixing the batch
//! and optimising happen later, once per batch size the planner asks for.

use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;

use super::error::PackageError;
use super::manifest::{GraphRole, GraphSpec, TensorSpec};

/// The shapes of a graph's inputs and outputs after the batch dimension, in role order
/// (`[width]` for vectors, `[channels, height, width]` for images).
pub type IoShapes = (Vec<Vec<usize>>, Vec<Vec<usize>>);

/// A graph that matches its manifest entry, ready to be specialised per batch size.
#[derive(Debug, Clone)]
pub struct CheckedGraph {
    /// Role of the graph.
    pub role: GraphRole,
    /// File it came from.
    pub path: PathBuf,
    /// Decluttered graph, I/O in role order, batch symbolic.
    pub model: TypedModel,
}

/// Loads `spec.file` (ONNX) from `dir`, puts its I/O in role order and checks every
/// declared tensor's name, position, rank, dtype and dims.
pub fn load_onnx(
    role: GraphRole,
    dir: &Path,
    spec: &GraphSpec,
    shapes: &IoShapes,
) -> Result<CheckedGraph, PackageError> {
    let path = dir.join(&spec.file);
    let graph = role.name();
    if !path.is_file() {
        return Err(PackageError::MissingGraph { graph, path });
    }
    let bytes = std::fs::read(&path).map_err(|source| PackageError::Io {
        path: path.clone(),
        source,
    })?;
    load_onnx_bytes(role, &path, &bytes, spec, shapes)
}

/// [`load_onnx`] on the file's bytes, read already; `path` names it in errors. A
/// truncated or corrupt protobuf is a [`PackageError::CorruptGraph`].
pub fn load_onnx_bytes(
    role: GraphRole,
    path: &Path,
    bytes: &[u8],
    spec: &GraphSpec,
    shapes: &IoShapes,
) -> Result<CheckedGraph, PackageError> {
    let path = path.to_owned();
    let graph = role.name();
    let corrupt = |e: TractError| PackageError::CorruptGraph {
        graph,
        path: path.clone(),
        message: format!("{e:#}"),
    };
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(corrupt)?;

    // Bind declared tensors to the graph's own by name, then reorder to role order.
    let inputs = model.input_outlets().map_err(corrupt)?.to_vec();
    let input_names: Vec<String> = inputs
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let outputs = model.output_outlets().map_err(corrupt)?.to_vec();
    let output_names: Vec<String> = outputs
        .iter()
        .map(|o| {
            model
                .outlet_label(*o)
                .unwrap_or(&model.node(o.node).name)
                .to_string()
        })
        .collect();
    let ordered_inputs = bind(graph, &path, "input", &spec.inputs, &inputs, &input_names)?;
    if inputs.len() != spec.inputs.len() {
        let extra: Vec<&str> = input_names
            .iter()
            .filter(|n| !spec.inputs.iter().any(|t| &t.name == *n))
            .map(String::as_str)
            .collect();
        return Err(PackageError::TensorMismatch {
            graph,
            path,
            tensor: extra.join(", "),
            expected: format!(
                "only the inputs the manifest declares ({})",
                names(&spec.inputs)
            ),
            found: "undeclared graph inputs that the runtime cannot feed".into(),
        });
    }
    let ordered_outputs = bind(
        graph,
        &path,
        "output",
        &spec.outputs,
        &outputs,
        &output_names,
    )?;
    model.set_input_outlets(&ordered_inputs).map_err(corrupt)?;
    model
        .select_output_outlets(&ordered_outputs)
        .map_err(corrupt)?;

    let prepare = |e: TractError| PackageError::Prepare {
        graph,
        path: path.clone(),
        message: format!("{e:#}"),
    };
    let typed = model.into_typed().map_err(prepare)?;
    check_typed(role, &path, &typed, spec, shapes)?;
    let model = typed.into_decluttered().map_err(prepare)?;
    Ok(CheckedGraph { role, path, model })
}

/// Checks rank, dtype and dims of every I/O of a typed graph already in role order.
pub fn check_typed(
    role: GraphRole,
    path: &Path,
    model: &TypedModel,
    spec: &GraphSpec,
    shapes: &IoShapes,
) -> Result<(), PackageError> {
    let graph = role.name();
    let sides = [
        (&spec.inputs, &shapes.0, model.input_outlets(), "inputs"),
        (&spec.outputs, &shapes.1, model.output_outlets(), "outputs"),
    ];
    for (declared, shapes, outlets, side) in sides {
        let outlets = outlets.map_err(|e| PackageError::CorruptGraph {
            graph,
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        if outlets.len() != declared.len() {
            return Err(PackageError::TensorMismatch {
                graph,
                path: path.to_path_buf(),
                tensor: names(declared),
                expected: format!("{} {side}", declared.len()),
                found: format!("{} {side}", outlets.len()),
            });
        }
        for ((tensor, shape), outlet) in declared.iter().zip(shapes).zip(outlets) {
            let mismatch = |expected: String, found: String| PackageError::TensorMismatch {
                graph,
                path: path.to_path_buf(),
                tensor: tensor.name.clone(),
                expected,
                found,
            };
            let fact = model
                .outlet_fact(*outlet)
                .map_err(|e| mismatch("a typed tensor".into(), format!("{e:#}")))?;
            if fact.datum_type != f32::datum_type() {
                return Err(mismatch(
                    "dtype f32".into(),
                    format!("dtype {:?}", fact.datum_type),
                ));
            }
            let dims: Vec<&TDim> = fact.shape.iter().collect();
            let shown = format!(
                "shape [{}]",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let tail: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            let expected = format!("shape [B, {}] with a symbolic batch B", tail.join(", "));
            if dims.len() != shape.len() + 1
                || dims[0].as_i64().is_some()
                || dims[1..]
                    .iter()
                    .zip(shape)
                    .any(|(d, &want)| d.as_i64() != Some(want as i64))
            {
                return Err(mismatch(expected, shown));
            }
        }
    }
    Ok(())
}

/// Maps each declared tensor to the graph's outlet of the same name.
fn bind(
    graph: &'static str,
    path: &Path,
    side: &str,
    declared: &[TensorSpec],
    outlets: &[OutletId],
    graph_names: &[String],
) -> Result<Vec<OutletId>, PackageError> {
    declared
        .iter()
        .map(|t| {
            graph_names
                .iter()
                .position(|n| n == &t.name)
                .map(|ix| outlets[ix])
                .ok_or_else(|| PackageError::TensorMismatch {
                    graph,
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    expected: format!("an {side} named `{}`", t.name),
                    found: format!("{side}s [{}]", graph_names.join(", ")),
                })
        })
        .collect()
}

fn names(tensors: &[TensorSpec]) -> String {
    tensors
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
