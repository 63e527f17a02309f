//! Simulated robots that stand in for the real one on a bench.

pub mod learned;
pub mod pendulum;
pub mod render;
