//! Errors raised while opening a model package. Each names the file at fault and,
//! where it applies, the graph and tensor, and says what was expected.

use std::path::PathBuf;

use thiserror::Error;

/// Why a model package could not be opened or prepared.
#[derive(Debug, Error)]
pub enum PackageError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File that could not be read.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `manifest.toml` is not valid TOML or has unknown / missing keys.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// `manifest.toml` parses but states an impossible contract.
    #[error("{path}: `{field}` {message}")]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A graph's file is missing.
    #[error("{path}: the `{graph}` graph's file does not exist")]
    MissingGraph {
        /// Role of the graph.
        graph: &'static str,
        /// Where the manifest says it is.
        path: PathBuf,
    },
    /// A graph's file exists but is not a loadable ONNX/NNEF graph (truncated, corrupt).
    #[error("{path}: the `{graph}` graph cannot be loaded: {message}")]
    CorruptGraph {
        /// Role of the graph.
        graph: &'static str,
        /// The graph file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// A graph's tensor disagrees with the manifest.
    #[error("{path}: `{graph}` tensor `{tensor}`: expected {expected}, found {found}")]
    TensorMismatch {
        /// Role of the graph.
        graph: &'static str,
        /// The graph file.
        path: PathBuf,
        /// Tensor name (from the manifest, or the graph's own when it is undeclared).
        tensor: String,
        /// What the manifest implies.
        expected: String,
        /// What the graph has.
        found: String,
    },
    /// tract could not type, optimise or plan a graph.
    #[error("{path}: preparing the `{graph}` graph failed: {message}")]
    Prepare {
        /// Role of the graph.
        graph: &'static str,
        /// The graph file.
        path: PathBuf,
        /// tract's message chain.
        message: String,
    },
    /// The MLP executor does not support a graph (it uses an op or shape outside its set).
    #[error("{path}: the `{graph}` graph is not supported by the MLP executor: {message}")]
    Unsupported {
        /// Role of the graph.
        graph: &'static str,
        /// The ONNX file.
        path: PathBuf,
        /// The first thing it does not support.
        message: String,
    },
    /// `reference.json` is unreadable or does not match the manifest.
    #[error("{path}: {message}")]
    Reference {
        /// The reference file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Preparation was asked for an unusable batch size.
    #[error("batch sizes must be >= 1, got {0:?}")]
    BatchSizes(Vec<usize>),
}
