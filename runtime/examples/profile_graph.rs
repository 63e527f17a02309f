//! Per-op time profile of one graph of a package at a fixed batch, to see where a
//! model call's time goes: `cargo run --release -p augur-runtime --example
//! profile_graph -- models/bench-1m dynamics 512`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use augur_runtime::model::{GraphRole, ModelPackage};
use tract_onnx::prelude::*;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "models/bench-1m".into()));
    let role_name = args.next().unwrap_or_else(|| "dynamics".into());
    let batch: usize = args.next().map_or(Ok(512), |s| s.parse())?;
    let role = *GraphRole::ALL
        .iter()
        .find(|r| r.name() == role_name)
        .ok_or_else(|| anyhow::anyhow!("no role {role_name}"))?;
    // A bare .onnx file is profiled as it is; a package folder by role.
    let model = if dir.extension().is_some_and(|e| e == "onnx") {
        tract_onnx::onnx()
            .model_for_path(&dir)?
            .into_typed()?
            .into_decluttered()?
    } else {
        let package = ModelPackage::open_with(&dir, false)?;
        package
            .graph(role)
            .ok_or_else(|| anyhow::anyhow!("package has no {role_name}"))?
            .model
            .clone()
    };
    let model = &model;
    let sym = model.input_fact(0)?.shape[0]
        .symbols()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no batch symbol"))?;
    let mut fixed = model.set_symbols(&[(sym, TDim::from(batch as i64))].into_iter().collect())?;
    if std::env::var_os("AUGUR_NO_REWRITE").is_none_or(|v| v.is_empty()) {
        augur_runtime::model::rewrite::use_row_softmax(&mut fixed)?;
    }
    let optimized = fixed.into_optimized()?;
    println!("{optimized}");
    let plan = optimized.into_runnable()?;
    let mut state = TypedSimpleState::new(&plan)?;
    let inputs: TVec<TValue> = plan
        .model()
        .input_outlets()?
        .iter()
        .map(|o| {
            let shape: Vec<usize> = plan
                .model()
                .outlet_fact(*o)
                .unwrap()
                .shape
                .as_concrete()
                .unwrap()
                .to_vec();
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0)
                .collect();
            Tensor::from_shape(&shape, &data).unwrap().into_tvalue()
        })
        .collect();
    let mut per_op: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
    let iters = 100;
    let total = Instant::now();
    for _ in 0..iters {
        state.run_plan_with_eval(inputs.clone(), |session, op_state, node, node_inputs| {
            let start = Instant::now();
            let result = tract_onnx::tract_core::plan::eval(session, op_state, node, node_inputs);
            let entry = per_op
                .entry(format!("{} {}", node.op.name(), node.name))
                .or_default();
            entry.0 += start.elapsed();
            entry.1 += 1;
            result
        })?;
    }
    let total = total.elapsed() / iters;
    let mut rows: Vec<_> = per_op.into_iter().collect();
    rows.sort_by_key(|(_, (d, _))| std::cmp::Reverse(*d));
    println!("total per call: {:.1} µs", total.as_secs_f64() * 1e6);
    for (name, (d, n)) in rows.iter().take(30) {
        println!(
            "{:>9.1} µs  {:>5.1}%  {}",
            (*d / *n as u32 * (*n as u32) / iters).as_secs_f64() * 1e6,
            d.as_secs_f64() / (total.as_secs_f64() * iters as f64) * 100.0,
            name
        );
    }
    Ok(())
}
