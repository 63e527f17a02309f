//! Scores planner settings on the pendulum in closed loop:
//! `cargo run --release -p augur-hil --example pendulum_sweep -- models/pendulum`.

use std::path::PathBuf;
use std::time::Duration;

use augur_hil::closed_loop::run_pendulum_episode;
use augur_planner::{ActionConfig, AnyPlanner, Budget, MppiConfig, PlannerConfig, TreeConfig};
use augur_runtime::model::{PrepareOptions, TractWorldModel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "models/pendulum".into()),
    );
    let episodes: u64 = std::env::args().nth(2).map_or(Ok(20), |s| s.parse())?;
    let mut model = TractWorldModel::load(
        &dir,
        &PrepareOptions {
            batch_sizes: vec![1, 24, 64, 256, 512],
            ..Default::default()
        },
    )?;
    let m = model.manifest().clone();
    let action = ActionConfig::new(
        m.action.iter().map(|a| a.low).collect(),
        m.action.iter().map(|a| a.high).collect(),
    );
    let discount = m.model.discount;
    let mppi = |samples, iterations, horizon| {
        PlannerConfig::Mppi(MppiConfig {
            discount,
            samples,
            iterations,
            horizon,
            elites: 64.min(samples / 4),
            prior_trajectories: 24.min(samples / 8),
            ..MppiConfig::tdmpc2()
        })
    };
    let tree = |horizon, batch_size| {
        PlannerConfig::Tree(TreeConfig {
            discount,
            horizon,
            batch_size,
            ..TreeConfig::default()
        })
    };
    let settings: Vec<(String, PlannerConfig, u64)> = vec![
        ("mppi tdmpc2 default".into(), mppi(512, 6, 3), u64::MAX),
        ("mppi 256x4 h3".into(), mppi(256, 4, 3), u64::MAX),
        ("mppi 128x4 h3".into(), mppi(128, 4, 3), u64::MAX),
        ("tree h3 b64 2048 tr".into(), tree(3, 64), 2048),
        ("tree h3 b64 4096 tr".into(), tree(3, 64), 4096),
        ("tree h5 b64 4096 tr".into(), tree(5, 64), 4096),
    ];
    for (name, config, transitions) in settings {
        let mut planner = AnyPlanner::new(config, action.clone(), m_dims(&model))?;
        let mut returns = Vec::new();
        let mut plan_times: Vec<Duration> = Vec::new();
        for seed in 0..episodes {
            let ep = run_pendulum_episode(&mut model, &mut planner, seed, 200, || {
                Budget::transitions(transitions)
            })?;
            returns.push(ep.total_return);
            plan_times.extend(ep.steps.iter().map(|s| s.latency));
        }
        plan_times.sort_unstable();
        let mean = returns.iter().sum::<f64>() / returns.len() as f64;
        let worst = returns.iter().copied().fold(f64::INFINITY, f64::min);
        let p =
            |q: f64| plan_times[((plan_times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!("{name:<24} mean return {mean:8.1}  worst {worst:8.1}  plan median {:.2} ms p99 {:.2} ms", p(0.5), p(0.99));
    }
    Ok(())
}

fn m_dims(model: &TractWorldModel) -> augur_planner::ModelDims {
    use augur_planner::WorldModel;
    model.dims()
}
