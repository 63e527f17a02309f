//! Hand-written world models for tests and benchmarks (feature `testing`).
//!
//! None of them allocates in its `WorldModel` methods, so they can be used in
//! allocation-counting tests.

use std::time::{Duration, Instant};

use crate::model::{rows, ModelDims, ModelError, WorldModel};

/// `y[n] = M[n, m] · x[m]` for a row-major `n × m` matrix, in f64.
fn mat_vec(m: &[f64], x: &[f32], n: usize, out: &mut [f64]) {
    let cols = x.len();
    for i in 0..n {
        out[i] = (0..cols).map(|j| m[i * cols + j] * f64::from(x[j])).sum();
    }
}

/// `xᵀ M x` for a row-major square matrix, in f64.
fn quadratic(m: &[f64], x: &[f32]) -> f64 {
    let n = x.len();
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..n {
            total += f64::from(x[i]) * m[i * n + j] * f64::from(x[j]);
        }
    }
    total
}

/// Largest state width supported by the fixed-size scratch of [`LinearQuadratic`].
pub const LQ_MAX_DIM: usize = 16;

/// A linear-quadratic problem: identity encoder, `z' = A z + B a`,
/// `reward = -(zᵀQz + aᵀRa)`, optional value `-zᵀPz` and policy `-K z`.
#[derive(Clone, Debug)]
pub struct LinearQuadratic {
    /// State width n.
    pub n: usize,
    /// Action width m.
    pub m: usize,
    /// `[n, n]` dynamics.
    pub a: Vec<f64>,
    /// `[n, m]` input matrix.
    pub b: Vec<f64>,
    /// `[n, n]` state cost.
    pub q: Vec<f64>,
    /// `[m, m]` action cost.
    pub r: Vec<f64>,
    /// `[n, n]` value matrix (value = -zᵀPz), if the model has a value graph.
    pub p: Option<Vec<f64>>,
    /// `[m, n]` gain (prior mean = -K z) and prior log std, if it has a policy graph.
    pub policy: Option<(Vec<f64>, f32)>,
    /// Largest batch accepted.
    pub max_batch: usize,
}

impl LinearQuadratic {
    /// A problem without value or policy graphs.
    pub fn new(n: usize, m: usize, a: Vec<f64>, b: Vec<f64>, q: Vec<f64>, r: Vec<f64>) -> Self {
        assert!(
            n <= LQ_MAX_DIM && m <= LQ_MAX_DIM,
            "widths above LQ_MAX_DIM"
        );
        Self {
            n,
            m,
            a,
            b,
            q,
            r,
            p: None,
            policy: None,
            max_batch: 4096,
        }
    }

    /// A discretised double integrator per axis (`axes` axes, dt = 0.1): state
    /// (position, velocity) per axis, force per axis, Q = I, R = 0.1 I.
    pub fn double_integrator(axes: usize) -> Self {
        let (n, m, dt) = (2 * axes, axes, 0.1);
        let mut a = vec![0.0; n * n];
        let mut b = vec![0.0; n * m];
        for k in 0..axes {
            let (p, v) = (2 * k, 2 * k + 1);
            a[p * n + p] = 1.0;
            a[p * n + v] = dt;
            a[v * n + v] = 1.0;
            b[p * m + k] = 0.5 * dt * dt;
            b[v * m + k] = dt;
        }
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            q[i * n + i] = 1.0;
        }
        let mut r = vec![0.0; m * m];
        for i in 0..m {
            r[i * m + i] = 0.1;
        }
        Self::new(n, m, a, b, q, r)
    }

    /// This model with a value graph `-zᵀPz`.
    pub fn with_value(self, p: Vec<f64>) -> Self {
        Self { p: Some(p), ..self }
    }

    /// This model with a policy graph: mean `-K z`, constant `log_std`.
    pub fn with_policy(self, k: Vec<f64>, log_std: f32) -> Self {
        Self {
            policy: Some((k, log_std)),
            ..self
        }
    }

    /// This model accepting at most `max_batch` rows per call.
    pub fn with_max_batch(self, max_batch: usize) -> Self {
        Self { max_batch, ..self }
    }

    fn check_batch(&self, graph: &'static str, n: usize) -> Result<(), ModelError> {
        if n > self.max_batch {
            return Err(ModelError::BatchTooLarge {
                graph,
                requested: n,
                max: self.max_batch,
            });
        }
        Ok(())
    }
}

impl WorldModel for LinearQuadratic {
    fn dims(&self) -> ModelDims {
        ModelDims {
            obs_dim: self.n,
            latent_dim: self.n,
            action_dim: self.m,
        }
    }
    fn max_batch(&self) -> usize {
        self.max_batch
    }
    fn has_value(&self) -> bool {
        self.p.is_some()
    }
    fn has_policy(&self) -> bool {
        self.policy.is_some()
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        z.copy_from_slice(obs);
        Ok(())
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        let (n, m) = (self.n, self.m);
        let rows_n = rows("step", "z", z.len(), n)?;
        self.check_batch("step", rows_n)?;
        let mut az = [0.0f64; LQ_MAX_DIM];
        for i in 0..rows_n {
            let zi = &z[i * n..(i + 1) * n];
            let ai = &action[i * m..(i + 1) * m];
            mat_vec(&self.a, zi, n, &mut az);
            for row in 0..n {
                let bu: f64 = (0..m).map(|k| self.b[row * m + k] * f64::from(ai[k])).sum();
                z_next[i * n + row] = (az[row] + bu) as f32;
            }
            reward[i] = -(quadratic(&self.q, zi) + quadratic(&self.r, ai)) as f32;
        }
        Ok(())
    }
    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        let p = self.p.as_ref().ok_or(ModelError::MissingGraph("value"))?;
        let n = self.n;
        for (i, v) in value.iter_mut().enumerate() {
            *v = -quadratic(p, &z[i * n..(i + 1) * n]) as f32;
        }
        Ok(())
    }
    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        let (k, s) = self
            .policy
            .as_ref()
            .ok_or(ModelError::MissingGraph("policy"))?;
        let (n, m) = (self.n, self.m);
        let rows_n = rows("policy", "z", z.len(), n)?;
        let mut kz = [0.0f64; LQ_MAX_DIM];
        for i in 0..rows_n {
            mat_vec(k, &z[i * n..(i + 1) * n], m, &mut kz);
            for j in 0..m {
                mean[i * m + j] = -kz[j] as f32;
                log_std[i * m + j] = *s;
            }
        }
        Ok(())
    }
}

/// A one-dimensional track with a small reward valley near `x = -1` (one step away)
/// and a large one near `x = 3` (three steps away, over a slightly costly ridge):
/// `x' = x + a`, `reward(x') = 0.6·exp(-((x'+1)/0.5)²) + 2·exp(-(x'-3)²) - 0.1`.
/// No value and no policy graph. A one-step planner goes left; a deeper one goes right.
#[derive(Clone, Debug, Default)]
pub struct TwoValley;

impl TwoValley {
    /// The reward for arriving at `x`.
    pub fn reward(x: f32) -> f32 {
        let lure = 0.6 * (-((x + 1.0) / 0.5).powi(2)).exp();
        let goal = 2.0 * (-(x - 3.0).powi(2)).exp();
        lure + goal - 0.1
    }
}

impl WorldModel for TwoValley {
    fn dims(&self) -> ModelDims {
        ModelDims {
            obs_dim: 1,
            latent_dim: 1,
            action_dim: 1,
        }
    }
    fn max_batch(&self) -> usize {
        4096
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        z.copy_from_slice(obs);
        Ok(())
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        for i in 0..reward.len() {
            z_next[i] = z[i] + action[i];
            reward[i] = Self::reward(z_next[i]);
        }
        Ok(())
    }
}

/// A static problem: the latent never changes and `reward = -|a - target|²`, so the
/// best sequence repeats `target` at every step. No value and no policy graph.
#[derive(Clone, Debug)]
pub struct StaticTarget {
    /// The best action.
    pub target: Vec<f32>,
}

impl WorldModel for StaticTarget {
    fn dims(&self) -> ModelDims {
        ModelDims {
            obs_dim: 1,
            latent_dim: 1,
            action_dim: self.target.len(),
        }
    }
    fn max_batch(&self) -> usize {
        4096
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        z.copy_from_slice(obs);
        Ok(())
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        let a = self.target.len();
        z_next.copy_from_slice(z);
        for (i, r) in reward.iter_mut().enumerate() {
            *r = -action[i * a..(i + 1) * a]
                .iter()
                .zip(&self.target)
                .map(|(x, t)| (x - t) * (x - t))
                .sum::<f32>();
        }
        Ok(())
    }
}

/// Wraps a model and busy-waits `delay` in every call (a stand-in for slow inference).
#[derive(Clone, Debug)]
pub struct Slow<M> {
    /// The wrapped model.
    pub inner: M,
    /// Time added to every call.
    pub delay: Duration,
    /// Calls made so far.
    pub calls: u64,
    /// When the latest call started.
    pub last_call_start: Option<Instant>,
}

impl<M> Slow<M> {
    /// `inner` with `delay` added to every call.
    pub fn new(inner: M, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            calls: 0,
            last_call_start: None,
        }
    }

    fn wait(&mut self) {
        self.calls += 1;
        let now = Instant::now();
        self.last_call_start = Some(now);
        let until = now + self.delay;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

impl<M: WorldModel> WorldModel for Slow<M> {
    fn dims(&self) -> ModelDims {
        self.inner.dims()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn has_value(&self) -> bool {
        self.inner.has_value()
    }
    fn has_policy(&self) -> bool {
        self.inner.has_policy()
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        self.wait();
        self.inner.encode(obs, z)
    }
    fn is_recurrent(&self) -> bool {
        self.inner.is_recurrent()
    }
    fn filter(
        &mut self,
        z_prev: &[f32],
        action_prev: &[f32],
        obs: &[f32],
        is_first: &[f32],
        z: &mut [f32],
    ) -> Result<(), ModelError> {
        self.inner.filter(z_prev, action_prev, obs, is_first, z)
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        self.wait();
        self.inner.step(z, action, z_next, reward)
    }
    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        self.wait();
        self.inner.value(z, value)
    }
    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        self.wait();
        self.inner.policy(z, mean, log_std)
    }
}

/// Which output a [`Faulty`] model corrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultSite {
    /// `z_next` of `step`.
    StepLatent,
    /// `reward` of `step`.
    StepReward,
    /// `value`.
    Value,
    /// `mean` of `policy`.
    PolicyMean,
    /// `log_std` of `policy`.
    PolicyLogStd,
}

/// What a [`Faulty`] model does at the fault.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Writes this value (NaN, ±inf) into the output.
    Value(f32),
    /// Returns [`ModelError::Inference`].
    Error,
}

/// Wraps a model and injects a fault into the `call`-th call of the chosen output's
/// graph (0-based, counted per graph), at element `index` modulo the output length.
#[derive(Clone, Debug)]
pub struct Faulty<M> {
    /// The wrapped model.
    pub inner: M,
    /// Output to corrupt.
    pub site: FaultSite,
    /// What to inject.
    pub fault: Fault,
    /// Which call of that graph to corrupt.
    pub call: u64,
    /// Element to corrupt (modulo the output length).
    pub index: usize,
    calls: u64,
}

impl<M> Faulty<M> {
    /// `inner` with one fault.
    pub fn new(inner: M, site: FaultSite, fault: Fault, call: u64, index: usize) -> Self {
        Self {
            inner,
            site,
            fault,
            call,
            index,
            calls: 0,
        }
    }

    /// Whether the fault has been injected.
    pub fn triggered(&self) -> bool {
        self.calls > self.call
    }

    /// Applies the fault if this is the call; returns an error for [`Fault::Error`].
    fn inject(&mut self, out: &mut [f32], graph: &'static str) -> Result<(), ModelError> {
        let now = self.calls;
        self.calls += 1;
        if now != self.call || out.is_empty() {
            return Ok(());
        }
        match self.fault {
            Fault::Value(v) => {
                let i = self.index % out.len();
                out[i] = v;
                Ok(())
            }
            Fault::Error => Err(ModelError::Inference {
                graph,
                message: "injected fault".into(),
            }),
        }
    }
}

impl<M: WorldModel> WorldModel for Faulty<M> {
    fn dims(&self) -> ModelDims {
        self.inner.dims()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn has_value(&self) -> bool {
        self.inner.has_value()
    }
    fn has_policy(&self) -> bool {
        self.inner.has_policy()
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        self.inner.encode(obs, z)
    }
    fn is_recurrent(&self) -> bool {
        self.inner.is_recurrent()
    }
    fn filter(
        &mut self,
        z_prev: &[f32],
        action_prev: &[f32],
        obs: &[f32],
        is_first: &[f32],
        z: &mut [f32],
    ) -> Result<(), ModelError> {
        self.inner.filter(z_prev, action_prev, obs, is_first, z)
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        self.inner.step(z, action, z_next, reward)?;
        match self.site {
            FaultSite::StepLatent => self.inject(z_next, "step"),
            FaultSite::StepReward => self.inject(reward, "step"),
            _ => Ok(()),
        }
    }
    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        self.inner.value(z, value)?;
        match self.site {
            FaultSite::Value => self.inject(value, "value"),
            _ => Ok(()),
        }
    }
    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        self.inner.policy(z, mean, log_std)?;
        match self.site {
            FaultSite::PolicyMean => self.inject(mean, "policy"),
            FaultSite::PolicyLogStd => self.inject(log_std, "policy"),
            _ => Ok(()),
        }
    }
}

/// A small MLP world model with fixed pseudo-random weights, costing about what a
/// TD-MPC2-sized latent model costs per row (for benchmarks and threading tests).
///
/// `h = tanh(W1 [z; a])`, `z' = z + 0.1 tanh(W2 h)`, `reward = w_r · h`,
/// `value = w_v · tanh(W3 z)`, `policy mean = bound · tanh(Wp z)`, `log_std = -1`.
/// Every row is computed independently of the others.
#[derive(Clone, Debug)]
pub struct Mlp {
    dims: ModelDims,
    hidden: usize,
    max_batch: usize,
    bound: f32,
    w1: Vec<f32>,
    w2: Vec<f32>,
    w3: Vec<f32>,
    wp: Vec<f32>,
    w_reward: Vec<f32>,
    w_value: Vec<f32>,
    scratch: Vec<f32>,
    scratch_out: Vec<f32>,
}

impl Mlp {
    /// Latent width `latent`, action width `action`, hidden width `hidden`; weights
    /// from `seed`; policy means within `[-bound, bound]`.
    pub fn new(
        latent: usize,
        action: usize,
        hidden: usize,
        max_batch: usize,
        bound: f32,
        seed: u64,
    ) -> Self {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut weights = |len: usize, fan_in: usize| -> Vec<f32> {
            let scale = 1.0 / (fan_in as f32).sqrt();
            (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let u = ((state >> 40) as f32) / ((1u64 << 24) as f32);
                    (2.0 * u - 1.0) * scale * 1.7
                })
                .collect()
        };
        Self {
            dims: ModelDims {
                obs_dim: latent,
                latent_dim: latent,
                action_dim: action,
            },
            hidden,
            max_batch,
            bound,
            w1: weights(hidden * (latent + action), latent + action),
            w2: weights(latent * hidden, hidden),
            w3: weights(hidden * latent, latent),
            wp: weights(action * latent, latent),
            w_reward: weights(hidden, hidden),
            w_value: weights(hidden, hidden),
            scratch: vec![0.0; hidden],
            scratch_out: vec![0.0; latent.max(action)],
        }
    }

    fn check(&self, graph: &'static str, n: usize) -> Result<(), ModelError> {
        if n > self.max_batch {
            return Err(ModelError::BatchTooLarge {
                graph,
                requested: n,
                max: self.max_batch,
            });
        }
        Ok(())
    }
}

/// `out[i] = tanh(W[i, :] · x)` (or without tanh), row-major `W`.
fn dense(w: &[f32], x: &[f32], out: &mut [f32], tanh: bool) {
    let cols = x.len();
    for (i, o) in out.iter_mut().enumerate() {
        let row = &w[i * cols..(i + 1) * cols];
        let s: f32 = row.iter().zip(x).map(|(a, b)| a * b).sum();
        *o = if tanh { s.tanh() } else { s };
    }
}

impl WorldModel for Mlp {
    fn dims(&self) -> ModelDims {
        self.dims
    }
    fn max_batch(&self) -> usize {
        self.max_batch
    }
    fn has_value(&self) -> bool {
        true
    }
    fn has_policy(&self) -> bool {
        true
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        z.copy_from_slice(obs);
        Ok(())
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        let (l, a, h) = (self.dims.latent_dim, self.dims.action_dim, self.hidden);
        let n = rows("step", "z", z.len(), l)?;
        self.check("step", n)?;
        for i in 0..n {
            let zi = &z[i * l..(i + 1) * l];
            let ai = &action[i * a..(i + 1) * a];
            for (k, o) in self.scratch.iter_mut().enumerate() {
                let row = &self.w1[k * (l + a)..(k + 1) * (l + a)];
                let s: f32 = row[..l].iter().zip(zi).map(|(w, x)| w * x).sum::<f32>()
                    + row[l..].iter().zip(ai).map(|(w, x)| w * x).sum::<f32>();
                *o = s.tanh();
            }
            dense(&self.w2, &self.scratch, &mut self.scratch_out[..l], true);
            for k in 0..l {
                z_next[i * l + k] = zi[k] + 0.1 * self.scratch_out[k];
            }
            reward[i] = self
                .w_reward
                .iter()
                .zip(&self.scratch[..h])
                .map(|(w, x)| w * x)
                .sum();
        }
        Ok(())
    }
    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        let l = self.dims.latent_dim;
        self.check("value", value.len())?;
        for (i, v) in value.iter_mut().enumerate() {
            dense(&self.w3, &z[i * l..(i + 1) * l], &mut self.scratch, true);
            *v = self
                .w_value
                .iter()
                .zip(&self.scratch)
                .map(|(w, x)| w * x)
                .sum();
        }
        Ok(())
    }
    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        let (l, a) = (self.dims.latent_dim, self.dims.action_dim);
        let n = rows("policy", "z", z.len(), l)?;
        self.check("policy", n)?;
        for i in 0..n {
            dense(
                &self.wp,
                &z[i * l..(i + 1) * l],
                &mut self.scratch_out[..a],
                true,
            );
            for j in 0..a {
                mean[i * a + j] = self.bound * self.scratch_out[j];
                log_std[i * a + j] = -1.0;
            }
        }
        Ok(())
    }
}
