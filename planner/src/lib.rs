//! Planners for Augur: given a latent state, a world model and a budget, choose the
//! action to apply now.
//!
//! This crate is pure computation. It knows the world model only through the
//! [`WorldModel`] trait (batched `f32` slices), and it does no I/O: no files, no
//! clocks other than the deadline handed in, no tract, no ROS. The runtime crate
//! implements the trait over tract; tests implement it by hand.

pub mod model;

pub use model::{ModelDims, ModelError, WorldModel};
