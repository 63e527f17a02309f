//! One module per `augur-hil` subcommand (`augur sim`, `augur hil`, `augur bench-node`,
//! `augur bench-quality`, `augur bench-control` and `augur eval` run these).

pub mod bench_control;
pub mod bench_node;
pub mod bench_quality;
pub mod eval;
pub mod hil;
pub mod sim;
pub mod transport_echo;
