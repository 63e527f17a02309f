//! One module per on-robot `augur` subcommand, and the hand-off of the bench
//! subcommands to `augur-hil` ([`bench_tools`]).

pub mod bench_model;
pub mod bench_plan;
pub mod bench_tools;
pub mod check_model;
pub mod compile;
pub mod logging;
mod peer_script;
pub mod replay;
pub mod run;
