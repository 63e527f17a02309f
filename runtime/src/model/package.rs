//! A model package on disk: its manifest and its graphs, checked against each other.
//!
//! Compiled graphs (`augur compile`) are preferred when their recorded source hash
//! matches the ONNX file beside them; otherwise the ONNX is loaded and the reason is
//! logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;
use tract_onnx::WithOnnx;

use super::error::PackageError;
use super::graph::{check_typed, load_onnx, CheckedGraph};
use super::manifest::{GraphRole, Manifest};

/// Folder, inside a package, that `augur compile` writes to.
pub const COMPILED_DIR: &str = "compiled";
/// Index of the compiled graphs.
pub const COMPILED_INDEX: &str = "compiled.toml";

/// Where a loaded graph came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphSource {
    /// Parsed from the ONNX file and decluttered at load.
    Onnx,
    /// Loaded from the compiled NNEF artifact.
    Compiled,
}

/// An opened, validated model package.
#[derive(Debug)]
pub struct ModelPackage {
    /// Package folder.
    pub dir: PathBuf,
    /// Its validated manifest.
    pub manifest: Manifest,
    graphs: Vec<(CheckedGraph, GraphSource)>,
}

/// `compiled/compiled.toml`: which compiled artifact stands for which ONNX file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CompiledIndex {
    /// tract version that wrote the artifacts.
    pub tract_version: String,
    /// One entry per graph role.
    pub graphs: BTreeMap<String, CompiledGraph>,
}

/// One compiled graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompiledGraph {
    /// NNEF archive, relative to `compiled/`.
    pub file: String,
    /// SHA-256 of the ONNX file it was compiled from.
    pub source_sha256: String,
}

/// The tract version this runtime links.
pub const TRACT_VERSION: &str = "0.23.9";

impl ModelPackage {
    /// Opens `dir`: reads and validates the manifest, then loads and checks every graph.
    pub fn open(dir: &Path) -> Result<ModelPackage, PackageError> {
        Self::open_with(dir, true)
    }

    /// Like [`ModelPackage::open`], but ignores compiled artifacts when `use_compiled` is false.
    pub fn open_with(dir: &Path, use_compiled: bool) -> Result<ModelPackage, PackageError> {
        Self::from_manifest(dir, Manifest::load(dir)?, use_compiled)
    }

    /// Opens the package in `dir` whose manifest the caller has already read (the
    /// node reads it once to resolve its parameters and hands it down).
    pub fn from_manifest(
        dir: &Path,
        manifest: Manifest,
        use_compiled: bool,
    ) -> Result<ModelPackage, PackageError> {
        let index = if use_compiled {
            read_compiled_index(dir)
        } else {
            None
        };
        let mut graphs = Vec::new();
        for role in GraphRole::ALL {
            let Some(spec) = manifest.graphs.get(role) else {
                continue;
            };
            let shapes = manifest.expected_shapes(role);
            let compiled = index
                .as_ref()
                .and_then(|index| load_compiled(dir, index, role, spec, &shapes));
            let loaded = match compiled {
                Some(graph) => (graph, GraphSource::Compiled),
                None => (load_onnx(role, dir, spec, &shapes)?, GraphSource::Onnx),
            };
            graphs.push(loaded);
        }
        Ok(ModelPackage {
            dir: dir.to_path_buf(),
            manifest,
            graphs,
        })
    }

    /// The checked graph for `role`, if the package has it.
    pub fn graph(&self, role: GraphRole) -> Option<&CheckedGraph> {
        self.graphs
            .iter()
            .find(|(g, _)| g.role == role)
            .map(|(g, _)| g)
    }

    /// Where the graph for `role` was loaded from.
    pub fn source(&self, role: GraphRole) -> Option<GraphSource> {
        self.graphs
            .iter()
            .find(|(g, _)| g.role == role)
            .map(|(_, s)| s.clone())
    }

    /// Every loaded graph, in role order.
    pub fn graphs(&self) -> impl Iterator<Item = &CheckedGraph> {
        self.graphs.iter().map(|(g, _)| g)
    }

    /// Writes each graph as tract NNEF into `compiled/` with an index of source hashes.
    pub fn compile(&self) -> Result<CompiledIndex, PackageError> {
        let out_dir = self.dir.join(COMPILED_DIR);
        std::fs::create_dir_all(&out_dir).map_err(|source| PackageError::Io {
            path: out_dir.clone(),
            source,
        })?;
        let nnef = nnef();
        let mut index = CompiledIndex {
            tract_version: TRACT_VERSION.to_string(),
            graphs: BTreeMap::new(),
        };
        for (graph, _) in &self.graphs {
            let spec = self
                .manifest
                .graphs
                .get(graph.role)
                .expect("loaded graphs come from the manifest");
            let source = self.dir.join(&spec.file);
            let file = format!("{}.nnef.tar", graph.role.name());
            let path = out_dir.join(&file);
            let io = |source| PackageError::Io {
                path: path.clone(),
                source,
            };
            let writer = std::fs::File::create(&path).map_err(io)?;
            nnef.write_to_tar(&graph.model, writer)
                .map_err(|e| PackageError::Prepare {
                    graph: graph.role.name(),
                    path: path.clone(),
                    message: format!("{e:#}"),
                })?;
            index.graphs.insert(
                graph.role.name().to_string(),
                CompiledGraph {
                    file,
                    source_sha256: sha256_file(&source)?,
                },
            );
        }
        let index_path = out_dir.join(COMPILED_INDEX);
        let text = toml::to_string_pretty(&index).expect("the compiled index is plain strings");
        std::fs::write(&index_path, text).map_err(|source| PackageError::Io {
            path: index_path,
            source,
        })?;
        Ok(index)
    }
}

fn nnef() -> tract_nnef::internal::Nnef {
    tract_nnef::nnef().with_onnx()
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, PackageError> {
    let bytes = std::fs::read(path).map_err(|source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn read_compiled_index(dir: &Path) -> Option<CompiledIndex> {
    let path = dir.join(COMPILED_DIR).join(COMPILED_INDEX);
    let text = std::fs::read_to_string(&path).ok()?;
    match toml::from_str::<CompiledIndex>(&text) {
        Ok(index) if index.tract_version == TRACT_VERSION => Some(index),
        Ok(index) => {
            tracing::info!(path = %path.display(), compiled_with = %index.tract_version, "compiled graphs are from another tract version; loading ONNX");
            None
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable compiled index; loading ONNX");
            None
        }
    }
}

/// The compiled graph for `role` if it exists, its source hash matches and it checks out.
fn load_compiled(
    dir: &Path,
    index: &CompiledIndex,
    role: GraphRole,
    spec: &super::manifest::GraphSpec,
    shapes: &super::graph::IoShapes,
) -> Option<CheckedGraph> {
    let entry = index.graphs.get(role.name())?;
    let source = dir.join(&spec.file);
    let hash = sha256_file(&source).ok()?;
    if hash != entry.source_sha256 {
        tracing::info!(
            graph = role.name(),
            "compiled graph is stale (source hash differs); loading ONNX"
        );
        return None;
    }
    let path = dir.join(COMPILED_DIR).join(&entry.file);
    let model = match nnef().model_for_path(&path) {
        Ok(model) => model,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "compiled graph unreadable; loading ONNX");
            return None;
        }
    };
    if let Err(e) = check_typed(role, &path, &model, spec, shapes) {
        tracing::warn!(error = %e, "compiled graph disagrees with the manifest; loading ONNX");
        return None;
    }
    Some(CheckedGraph { role, path, model })
}
