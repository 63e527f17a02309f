//! Helpers shared by the cross-process tests.
#![allow(dead_code)]

pub mod process;
pub mod python;
