//! The pendulum plant against trajectories recorded from gymnasium's `Pendulum-v1`
//! itself (`models/train/record_pendulum_fixture.py`): 5 episodes x 200 steps with
//! actions in [-3, 3], so torque clipping is exercised.

use augur_hil::plants::pendulum::{Pendulum, PendulumState};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    initial_state: [f64; 2],
    initial_observation: [f32; 3],
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    state: [f64; 2],
    action: f32,
    observation: [f32; 3],
    reward: f64,
    next_state: [f64; 2],
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pendulum_gymnasium.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture parses")
}

#[test]
fn pendulum_reproduces_gymnasium_state_and_observation_bit_for_bit_and_reward_to_1e_9() {
    let fixture = fixture();
    assert_eq!(fixture.episodes.len(), 5);
    let mut clipped = 0;
    for episode in &fixture.episodes {
        let [theta, theta_dot] = episode.initial_state;
        let mut plant = Pendulum::new(PendulumState { theta, theta_dot });
        assert_eq!(
            plant.observation(),
            episode.initial_observation,
            "seed {}",
            episode.seed
        );
        for (t, step) in episode.steps.iter().enumerate() {
            let at = format!("seed {} step {t}", episode.seed);
            assert_eq!(
                [plant.state.theta, plant.state.theta_dot],
                step.state,
                "{at}: state"
            );
            let reward = plant.step(step.action);
            assert_eq!(
                [plant.state.theta, plant.state.theta_dot],
                step.next_state,
                "{at}: next state"
            );
            assert_eq!(plant.observation(), step.observation, "{at}: observation");
            // NumPy's float32 `u**2` is not always correctly rounded; u*u differs by 1 ulp
            // in about 1 of 1400 steps, ~1e-10 in reward.
            assert!(
                (reward - step.reward).abs() <= 1e-9,
                "{at}: reward {reward} vs {}",
                step.reward
            );
            clipped += usize::from(step.action.abs() > 2.0);
        }
    }
    assert!(
        clipped > 100,
        "the fixture exercises torque clipping ({clipped} steps)"
    );
}

/// The embedded start states (`closed_loop::gymnasium_start`) are gymnasium's own:
/// `hil-tests/py/pendulum_starts.py`, run now against the test environment's
/// gymnasium, prints the same float64 values for every seed.
#[test]
fn embedded_starts_are_what_gymnasium_resets_to() {
    use augur_hil::closed_loop::{gymnasium_start, GYMNASIUM_SEEDS};
    let python = match std::env::var_os("AUGUR_PYTHON") {
        Some(path) if !path.is_empty() => std::path::PathBuf::from(path),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    };
    assert!(
        python.exists(),
        "Python test environment not found at {}: run `scripts/python-env.sh`",
        python.display()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/pendulum_starts.py");
    let output = std::process::Command::new(&python)
        .args([script, "--seeds", &GYMNASIUM_SEEDS.to_string()])
        .output()
        .expect("run pendulum_starts.py");
    assert!(output.status.success(), "{output:?}");
    #[derive(Deserialize)]
    struct Starts {
        starts: Vec<[f64; 2]>,
    }
    let fresh: Starts = serde_json::from_slice(&output.stdout).expect("starts parse");
    assert_eq!(fresh.starts.len() as u64, GYMNASIUM_SEEDS);
    for (seed, [theta, theta_dot]) in fresh.starts.into_iter().enumerate() {
        let embedded = gymnasium_start(seed as u64).expect("embedded");
        assert_eq!(
            (embedded.theta, embedded.theta_dot),
            (theta, theta_dot),
            "seed {seed}"
        );
    }
    assert!(gymnasium_start(GYMNASIUM_SEEDS).is_none());
}
