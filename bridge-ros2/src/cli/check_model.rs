//! `augur check-model <pkg>`: validate a package and print its contract.

use std::path::PathBuf;

use augur_runtime::model::reference::{self, Reference};
use augur_runtime::model::{GraphRole, ModelPackage, PrepareOptions, TractWorldModel};

/// Arguments of `augur check-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package folder (holds manifest.toml).
    pub package: PathBuf,
    /// Largest error tolerated against reference.json, as |a - b| / max(1, |b|).
    #[arg(long, default_value_t = 1e-5)]
    pub tolerance: f32,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let package = ModelPackage::open(&args.package)?;
    let m = &package.manifest;
    println!(
        "{} {} — {}",
        m.model.name, m.model.version, m.model.description
    );
    println!(
        "  dt {} s, latent {}, discount {}",
        m.model.dt, m.model.latent_dim, m.model.discount
    );
    println!("  observation [{}]:", m.obs_dim());
    for f in &m.observation {
        let unit = f.unit.as_deref().unwrap_or("-");
        println!(
            "    {:<16} {:<8} normalised (x - {}) / {}",
            f.name, unit, f.mean, f.std
        );
    }
    println!("  action [{}]:", m.action_dim());
    for a in &m.action {
        let unit = a.unit.as_deref().unwrap_or("-");
        println!(
            "    {:<16} {:<8} [{}, {}], safe {}",
            a.name, unit, a.low, a.high, a.safe
        );
    }
    if let Some(state) = &m.state {
        println!(
            "  state: recurrent, deter {} + stoch {} ({}), prior rolled out at its {}",
            state.deter,
            state.stoch.width(),
            state.stoch,
            state.prior
        );
    }
    println!("  graphs:");
    for role in GraphRole::ALL {
        let (Some(spec), Some(source)) = (m.graphs.get(role), package.source(role)) else {
            println!("    {:<9} (absent)", role.name());
            continue;
        };
        let tensors = |ts: &[augur_runtime::model::manifest::TensorSpec]| {
            ts.iter()
                .map(|t| {
                    format!(
                        "{}[{}]",
                        t.name,
                        t.shape
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "    {:<9} {} -> {}   ({}, {:?})",
            role.name(),
            tensors(&spec.inputs),
            tensors(&spec.outputs),
            spec.file.display(),
            source
        );
    }

    let Some(reference_info) = m.reference.clone() else {
        println!("  reference: none (no reproduction check)");
        return Ok(());
    };
    let reference = Reference::load(&package.dir, &reference_info.file)?;
    let options = PrepareOptions {
        batch_sizes: vec![64],
        encoder_batch_sizes: vec![64],
        threads: 1,
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::from_package(&package, &options)?;
    let path = package.dir.join(&reference_info.file);
    let errors = reference::compare(&mut model, &reference, &path)?;
    println!("  reference ({}):", reference_info.file.display());
    let mut worst = 0.0f32;
    for e in &errors {
        println!(
            "    {:<9} {:<10} max |error| {:.2e}, scaled {:.2e}, over {} rows",
            e.graph.name(),
            e.tensor,
            e.max_abs_error,
            e.max_scaled_error,
            e.rows
        );
        worst = worst.max(e.max_scaled_error);
    }
    anyhow::ensure!(
        worst <= args.tolerance,
        "the runtime does not reproduce {}: max scaled error {worst:.2e} > tolerance {:.0e}",
        path.display(),
        args.tolerance
    );
    println!(
        "ok: {} matches its manifest and reproduces its reference within {:.0e} (|a - b| / max(1, |b|))",
        args.package.display(),
        args.tolerance
    );
    Ok(())
}
