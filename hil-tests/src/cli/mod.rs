//! One module per `augur-hil` subcommand (`augur sim`, `augur hil`, `augur bench-node`
//! and `augur bench-quality` run these).

pub mod bench_node;
pub mod bench_quality;
pub mod hil;
pub mod sim;
