//! One module per `augur` subcommand.

pub mod bench_model;
pub mod bench_node;
pub mod bench_plan;
pub mod bench_quality;
pub mod check_model;
pub mod compile;
pub mod hil;
pub mod replay;
pub mod run;
pub mod sim;
