//! The swing-up pendulum, reproducing gymnasium's `Pendulum-v1` step for step.
//!
//! Same equations, constants, clipping and reward as gymnasium 1.x, including its
//! numeric types: the state is `f64`, the action is `f32` (gymnasium's action space
//! dtype) and the terms computed from it stay `f32` until they meet the state, as
//! NumPy 2's promotion rules do. The observation is `[cos θ, sin θ, θ̇]` as `f32`.

/// Gravity, m/s² (gymnasium's default `g=10.0`).
pub const GRAVITY: f64 = 10.0;
/// Pendulum mass, kg.
pub const MASS: f64 = 1.0;
/// Pendulum length, m.
pub const LENGTH: f64 = 1.0;
/// Integration step and control period, s.
pub const DT: f64 = 0.05;
/// The pendulum's joint name in `sensor_msgs/JointState` (shared/INTERFACES.md).
pub const JOINT: &str = "pendulum_joint";
/// Torque limit, N·m.
pub const MAX_TORQUE: f32 = 2.0;
/// Angular speed limit, rad/s.
pub const MAX_SPEED: f64 = 8.0;

/// Pendulum state: angle θ (rad, 0 upright) and angular velocity θ̇ (rad/s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendulumState {
    /// Angle in rad, 0 upright, not wrapped (as gymnasium keeps it).
    pub theta: f64,
    /// Angular velocity in rad/s.
    pub theta_dot: f64,
}

/// The gymnasium `Pendulum-v1` plant.
#[derive(Debug, Clone, PartialEq)]
pub struct Pendulum {
    /// Current state.
    pub state: PendulumState,
}

/// Wraps an angle to [-π, π) as gymnasium's `angle_normalize` does.
pub fn angle_normalize(x: f64) -> f64 {
    (x + std::f64::consts::PI).rem_euclid(2.0 * std::f64::consts::PI) - std::f64::consts::PI
}

impl Pendulum {
    /// A pendulum at `state`.
    pub fn new(state: PendulumState) -> Pendulum {
        Pendulum { state }
    }

    /// The observation `[cos θ, sin θ, θ̇]` as gymnasium returns it (`f32`).
    pub fn observation(&self) -> [f32; 3] {
        let PendulumState { theta, theta_dot } = self.state;
        [theta.cos() as f32, theta.sin() as f32, theta_dot as f32]
    }

    /// Applies torque `action` (clipped to ±2 N·m) for one period; returns the reward.
    pub fn step(&mut self, action: f32) -> f64 {
        let PendulumState { theta, theta_dot } = self.state;
        let u = clip(action);
        let reward = reward(self.state, action);
        let torque_term = f64::from(3.0f32 / (MASS * LENGTH.powi(2)) as f32 * u);
        let new_theta_dot =
            theta_dot + (3.0 * GRAVITY / (2.0 * LENGTH) * theta.sin() + torque_term) * DT;
        let new_theta_dot = new_theta_dot.clamp(-MAX_SPEED, MAX_SPEED);
        let new_theta = theta + new_theta_dot * DT;
        self.state = PendulumState {
            theta: new_theta,
            theta_dot: new_theta_dot,
        };
        reward
    }
}

/// The torque gymnasium applies for `action`: clipped to ±2 N·m (also what its
/// renderer's arrow shows, `last_u`).
pub fn clip(action: f32) -> f32 {
    action.clamp(-MAX_TORQUE, MAX_TORQUE)
}

/// gymnasium's reward for applying torque `action` (clipped to ±2 N·m) in `state`:
/// `-(θ² + 0.1 θ̇² + 0.001 u²)` with θ wrapped to [-π, π).
pub fn reward(state: PendulumState, action: f32) -> f64 {
    let u = clip(action);
    // NumPy 2 keeps python-float * float32 in float32; the f64 state promotes it.
    let control_cost = f64::from(0.001f32 * (u * u));
    -(angle_normalize(state.theta).powi(2) + 0.1 * state.theta_dot.powi(2) + control_cost)
}
