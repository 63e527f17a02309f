//! Model packages and the tract-executed world model.

pub mod error;
pub mod graph;
pub mod manifest;
pub mod mlp;
pub mod package;
pub mod peak;
pub mod reference;
pub mod rewrite;
pub mod world_model;

pub use error::PackageError;
pub use manifest::{ChannelOrder, GraphRole, ImageInput, Manifest};
pub use package::{GraphSource, ModelPackage};
pub use world_model::{Executor, FrameDecoder, PrepareOptions, TractWorldModel};
