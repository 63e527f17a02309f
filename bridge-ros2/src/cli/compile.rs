//! `augur compile <pkg>`: write the decluttered graphs as tract NNEF beside the ONNX.

use std::path::PathBuf;
use std::time::Instant;

use augur_runtime::model::{ModelPackage, PrepareOptions, TractWorldModel};

/// Arguments of `augur compile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package folder (holds manifest.toml).
    pub package: PathBuf,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let package = ModelPackage::open_with(&args.package, false)?;
    let index = package.compile()?;
    for (role, graph) in &index.graphs {
        println!(
            "{role:<9} -> {}/compiled/{} (source sha256 {})",
            args.package.display(),
            graph.file,
            &graph.source_sha256[..12]
        );
    }
    // Prove the artifacts load and time the start-up they buy.
    let start = Instant::now();
    let compiled = ModelPackage::open(&args.package)?;
    let _model = TractWorldModel::from_package(&compiled, &PrepareOptions::default())?;
    println!(
        "compiled package loads and prepares in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
