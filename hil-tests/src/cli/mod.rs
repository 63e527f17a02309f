//! One module per `augur-hil` subcommand (`augur sim`, `augur hil`, `augur bench-node`,
//! `augur bench-quality` and `augur bench-control` run these).

pub mod bench_control;
pub mod bench_node;
pub mod bench_quality;
pub mod hil;
pub mod sim;
