//! Reference vectors written by the exporter (`reference.json`), and the check that
//! the runtime reproduces them.

use std::collections::BTreeMap;
use std::path::Path;

use augur_planner::WorldModel;
use serde::Deserialize;

use super::error::PackageError;
use super::manifest::GraphRole;
use super::world_model::TractWorldModel;

/// The whole reference file.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    /// Per graph role, inputs and the outputs the training framework computed.
    pub graphs: BTreeMap<String, GraphReference>,
}

/// One graph's reference batch: tensor name -> rows.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphReference {
    /// Inputs by tensor name.
    pub inputs: BTreeMap<String, Vec<Vec<f32>>>,
    /// Expected outputs by tensor name.
    pub outputs: BTreeMap<String, Vec<Vec<f32>>>,
}

/// How far one output tensor is from its reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceError {
    /// Graph role.
    pub graph: GraphRole,
    /// Output tensor name.
    pub tensor: String,
    /// Largest absolute difference over the batch.
    pub max_abs_error: f32,
    /// Largest `|actual - expected| / max(1, |expected|)`: the absolute error for
    /// values up to 1 in magnitude, the relative error above (where one f32 ULP
    /// already exceeds 1e-5 and no absolute bound that tight is meaningful).
    pub max_scaled_error: f32,
    /// Rows compared.
    pub rows: usize,
}

impl Reference {
    /// Reads `file` (relative to `dir`).
    pub fn load(dir: &Path, file: &Path) -> Result<Reference, PackageError> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| PackageError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| PackageError::Reference {
            path,
            message: e.to_string(),
        })
    }
}

/// Runs each referenced graph on its reference inputs and measures the output error.
pub fn compare(
    model: &mut TractWorldModel,
    reference: &Reference,
    path: &Path,
) -> Result<Vec<ReferenceError>, PackageError> {
    let mut errors = Vec::new();
    for role in GraphRole::ALL {
        let Some(graph_ref) = reference.graphs.get(role.name()) else {
            continue;
        };
        let Some(spec) = model.manifest().graphs.get(role).cloned() else {
            return Err(bad(
                path,
                format!("has a `{role}` entry but the package has no such graph"),
            ));
        };
        let flat = |side: &BTreeMap<String, Vec<Vec<f32>>>,
                    name: &str|
         -> Result<(Vec<f32>, usize), PackageError> {
            let rows = side
                .get(name)
                .ok_or_else(|| bad(path, format!("`{role}` lacks tensor `{name}`")))?;
            Ok((rows.concat(), rows.len()))
        };
        let inputs: Vec<(Vec<f32>, usize)> = spec
            .inputs
            .iter()
            .map(|t| flat(&graph_ref.inputs, &t.name))
            .collect::<Result<_, _>>()?;
        let expected: Vec<(Vec<f32>, usize)> = spec
            .outputs
            .iter()
            .map(|t| flat(&graph_ref.outputs, &t.name))
            .collect::<Result<_, _>>()?;
        let mut actual: Vec<Vec<f32>> = expected.iter().map(|(e, _)| vec![0.0; e.len()]).collect();
        let images = model.image_dim() > 0;
        let run = match (role, inputs.as_slice(), actual.as_mut_slice()) {
            (GraphRole::Encoder, [image], [z]) if images => model.encode_image(&image.0, &[], z),
            (GraphRole::Encoder, [image, obs], [z]) if images => {
                model.encode_image(&image.0, &obs.0, z)
            }
            (GraphRole::Decoder, [z], [frame]) if images => model.decode_frame(&z.0, frame),
            (GraphRole::Encoder, [obs], [z]) => model.encode(&obs.0, z),
            (GraphRole::Filter, [z_prev, a, obs, first], [z]) => {
                model.filter(&z_prev.0, &a.0, &obs.0, &first.0, z)
            }
            (GraphRole::Dynamics, [z, a], [z_next, r]) => model.step(&z.0, &a.0, z_next, r),
            (GraphRole::Value, [z], [v]) => model.value(&z.0, v),
            (GraphRole::Policy, [z], [mean, log_std]) => model.policy(&z.0, mean, log_std),
            (GraphRole::Decoder, [z], [obs]) => model.decode(&z.0, obs),
            _ => {
                return Err(bad(
                    path,
                    format!("`{role}` has the wrong number of tensors"),
                ))
            }
        };
        run.map_err(|e| {
            bad(
                path,
                format!("running `{role}` on the reference inputs failed: {e}"),
            )
        })?;
        for ((tensor, (want, rows)), got) in spec.outputs.iter().zip(&expected).zip(&actual) {
            let finite = got.iter().all(|x| x.is_finite());
            let worst = |scale: fn(f32) -> f32| {
                let e = want
                    .iter()
                    .zip(got)
                    .map(|(w, g)| (w - g).abs() / scale(*w))
                    .fold(0.0f32, f32::max);
                if finite {
                    e
                } else {
                    f32::INFINITY
                }
            };
            errors.push(ReferenceError {
                graph: role,
                tensor: tensor.name.clone(),
                max_abs_error: worst(|_| 1.0),
                max_scaled_error: worst(|w| w.abs().max(1.0)),
                rows: *rows,
            });
        }
    }
    Ok(errors)
}

fn bad(path: &Path, message: String) -> PackageError {
    PackageError::Reference {
        path: path.to_path_buf(),
        message,
    }
}
