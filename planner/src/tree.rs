//! Sampled tree search over continuous actions in latent space (the default planner).
//!
//! In the spirit of Sampled MuZero (Hubert et al. 2021), adapted to a deterministic
//! learned model, a hard deadline and batched inference:
//!
//! - **Nodes** hold a latent, the action and reward of the edge into them, the policy
//!   prior at their latent, visit counts and the best return found below them. The
//!   tree lives in preallocated structure-of-arrays arenas (`max_nodes` rows).
//! - **Trajectories, not single steps.** Every expansion adds a sampled action at some
//!   node and then follows the node's *default continuation* down to the horizon (the
//!   policy prior's mean at each new latent; without a policy, the actions of the best
//!   trajectory found so far, which starts as the previous plan), adding a
//!   node per step. The path is valued as the discounted sum of model rewards plus the
//!   value graph at the horizon, exactly TD-MPC2's objective, so every value in the
//!   tree is the predicted return of a concrete action sequence and values at
//!   different depths are comparable. With [`ActionConfig::change_cost`] each edge
//!   also pays for its change of action (from its parent's, or from the previous
//!   command at the root), so the search prefers smooth sequences among good ones.
//! - **Max backup.** The model is deterministic, so a node's value is the best return of
//!   any trajectory through it (a Bellman optimality backup), and the plan is the
//!   best trajectory found: follow each node's best child from the root.
//! - **Selection** descends by a PUCT rule, `q + c · sqrt(N) / (1 + n)`, where `q` is
//!   the child's backed-up value normalised to `[0, 1]` among its siblings; the
//!   children are samples of the proposal, so each carries the same prior weight (the
//!   Sampled MuZero estimator with the proposal equal to the prior), folded into `c`.
//!   A selection that reaches a leaf at the horizon counts a visit there without a
//!   model call. **Progressive widening** lets a node with `N` visits
//!   have `ceil(widening_coefficient · (N + 1)^widening_exponent)` children (capped),
//!   and a selection that reaches a node with room adds a child there.
//! - **Proposals** for a new child: the first child is the default action; later ones
//!   are drawn from the prior `N(mean, std)`, from a widened `N(mean, widen_scale·std)`,
//!   or, to refine continuous actions, around the best child with a per-node step
//!   adapted by the one-fifth success rule (grown when a refinement becomes the best
//!   child, shrunk otherwise). Without a policy the centre is the previous plan's action at
//!   that depth and std is `sample_std` of the half range; with neither a policy nor a
//!   previous plan, proposals are uniform within the bounds.
//! - **Batches.** Up to `batch_size` selections are made per round, each adding a
//!   virtual visit along its path so that the others spread out; then all new
//!   trajectories are evaluated level-synchronously, one batched model call per depth
//!   (rows sorted by depth so that each call reads and writes one contiguous block of
//!   the arenas), plus one value call.
//! - **Warm start.** The previous plan's best sequence is tried twice at the root,
//!   shifted by one step (receding horizon) and as it was (which is right when the
//!   robot has barely moved), each followed to the horizon; the shifted sequence also
//!   centres proposals and continuations without a policy. The subtree under the action
//!   taken is *not* reused: its latents were predicted from the old state, whereas the
//!   new latent comes from a fresh observation, and planning from a stale latent would
//!   plan for a state the robot is not in.

use std::time::Instant;

use crate::action::{ActionConfig, ActionFilter, Bounds, ChangeCost};
use crate::budget::{Budget, Call, Meter};
use crate::error::{ConfigError, PlanError};
use crate::model::{ModelDims, WorldModel};
use crate::mppi::{check_count, check_discount, check_positive};
use crate::plan::{Plan, PlanStats};
use crate::rng::PlannerRng;
use crate::{check_inputs, Planner};

/// Marks "no node".
const NONE: u32 = u32::MAX;

/// Consecutive rounds without any expansion after which the search stops.
const MAX_EMPTY_ROUNDS: u32 = 8;

/// Initial refinement step of a node, relative to its proposal std.
const REFINE_STEP_START: f32 = 0.5;

/// Refinement step bounds, relative to the proposal std.
const REFINE_STEP_MIN: f32 = 1e-4;
const REFINE_STEP_MAX: f32 = 2.0;

/// Step change after a refinement that did / did not become the best child (the
/// one-fifth success rule of evolution strategies: 1.5^0.2 · 0.9^0.8 ≈ 1).
const REFINE_GROW: f32 = 1.5;
const REFINE_SHRINK: f32 = 0.9;

/// Tree-search settings. [`Default`] gives the documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeConfig {
    /// Discount per step (from the model manifest). Default 0.99.
    pub discount: f32,
    /// Seed of the planner's random stream. Default 0.
    pub seed: u64,
    /// Depth of every trajectory; the value graph is applied there. Default 3.
    pub horizon: usize,
    /// Trajectories added per round (rows of the first batched step call). Default 64.
    pub batch_size: usize,
    /// Node capacity of the arenas; the search stops when a round might not fit.
    /// Default 8192.
    pub max_nodes: usize,
    /// Most children of an inner node. Default 16.
    pub max_children: usize,
    /// Most children of the root (the executed action is chosen among them, so the
    /// root gets many more than inner nodes). Default 256.
    pub root_max_children: usize,
    /// Progressive widening: children allowed = ceil(coefficient · (N + 1)^exponent).
    /// Default 2.
    pub widening_coefficient: f32,
    /// Progressive widening coefficient at the root, where the executed action is
    /// chosen. Default 3.
    pub root_widening_coefficient: f32,
    /// Progressive widening exponent, in (0, 1]. Default 0.5.
    pub widening_exponent: f32,
    /// PUCT exploration constant `c`. Default 1.25.
    pub exploration: f32,
    /// Smallest std of the policy prior, as a fraction of the half range. Default 0.5:
    /// a trained policy's own std is often far narrower than the actions worth trying
    /// (on the pendulum, a floor of 0.05 left the search 8 points of return short of
    /// what 0.5 finds, `docs/benchmarks.md`).
    pub min_std: f32,
    /// Largest std of the policy prior, as a fraction of the half range. Default 1.
    pub max_std: f32,
    /// Proposal std around the previous plan when the model has no policy, as a
    /// fraction of the half range. Default 0.3.
    pub sample_std: f32,
    /// Std multiplier of widened proposals. Default 4.
    pub widen_scale: f32,
    /// Share of proposals drawn from the widened Gaussian. Default 0.25.
    pub widen_fraction: f32,
    /// Share of proposals drawn around the best child (once a node has two children).
    /// Default 0.5.
    pub refine_fraction: f32,
    /// Seed each plan with the previous plan's sequence shifted by one step. Default true.
    pub warm_start: bool,
    /// How the executed action is chosen among the root's children. Default
    /// [`TreeSelection::Best`].
    pub selection: TreeSelection,
    /// Use the model's policy graph, when it has one, for proposals and for the
    /// continuation of new trajectories. When false (or without a policy graph) the
    /// search proposes around the previous plan and continues every trajectory with
    /// the best sequence found so far. A policy prior trained offline can be badly
    /// wrong where the data was thin (the pendulum package trained without a
    /// behaviour-cloning term asked for -1.97 N·m upright at rest, `docs/benchmarks.md`), and continuing with it then biases
    /// every trajectory the search values. Default true.
    pub use_policy: bool,
}

/// How the tree turns its root's children into the action to execute.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum TreeSelection {
    /// The first action of the best trajectory found (the argmax).
    #[default]
    Best,
    /// The mean of the root children's actions weighted by
    /// `exp(temperature · (q - q_best))`, `q` each child's backed-up return (MPPI's
    /// elite weighting applied to the tree's root). Where many children are nearly as
    /// good (a flat optimum, as at a balance point) this averages out which of them
    /// happened to be sampled; where one is clearly best it is the argmax. The rest
    /// of the plan (and the predicted trajectory) stays the best trajectory's.
    Weighted {
        /// Inverse temperature, per unit of return; > 0.
        temperature: f32,
    },
}

impl Default for TreeConfig {
    fn default() -> Self {
        Self {
            discount: 0.99,
            seed: 0,
            horizon: 3,
            batch_size: 64,
            max_nodes: 8192,
            max_children: 16,
            root_max_children: 256,
            widening_coefficient: 2.0,
            root_widening_coefficient: 3.0,
            widening_exponent: 0.5,
            exploration: 1.25,
            min_std: 0.5,
            max_std: 1.0,
            sample_std: 0.3,
            widen_scale: 4.0,
            widen_fraction: 0.25,
            refine_fraction: 0.5,
            warm_start: true,
            selection: TreeSelection::Best,
            use_policy: true,
        }
    }
}

impl TreeConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_discount(self.discount)?;
        check_count("tree.horizon", self.horizon, 1, 255)?;
        check_count("tree.batch_size", self.batch_size, 1, 1 << 16)?;
        check_count("tree.max_nodes", self.max_nodes, 2, (u32::MAX - 1) as usize)?;
        check_count("tree.max_children", self.max_children, 1, u16::MAX as usize)?;
        check_count(
            "tree.root_max_children",
            self.root_max_children,
            1,
            u16::MAX as usize,
        )?;
        if self.max_nodes < 1 + self.batch_size * self.horizon {
            return Err(ConfigError::Inconsistent(
                "tree.max_nodes must hold the root and one full batch (1 + batch_size * horizon)",
            ));
        }
        check_positive("tree.widening_coefficient", self.widening_coefficient)?;
        check_positive(
            "tree.root_widening_coefficient",
            self.root_widening_coefficient,
        )?;
        if !(self.widening_exponent > 0.0 && self.widening_exponent <= 1.0) {
            return Err(ConfigError::OutOfRange {
                field: "tree.widening_exponent",
                value: f64::from(self.widening_exponent),
                expected: "0 < exponent <= 1",
            });
        }
        if !(self.exploration.is_finite() && self.exploration >= 0.0) {
            return Err(ConfigError::OutOfRange {
                field: "tree.exploration",
                value: f64::from(self.exploration),
                expected: "finite and >= 0",
            });
        }
        check_positive("tree.min_std", self.min_std)?;
        check_positive("tree.max_std", self.max_std)?;
        if self.min_std > self.max_std {
            return Err(ConfigError::Inconsistent(
                "tree.min_std must not exceed tree.max_std",
            ));
        }
        check_positive("tree.sample_std", self.sample_std)?;
        check_positive("tree.widen_scale", self.widen_scale)?;
        for (field, value) in [
            ("tree.widen_fraction", self.widen_fraction),
            ("tree.refine_fraction", self.refine_fraction),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::OutOfRange {
                    field,
                    value: f64::from(value),
                    expected: "0 <= fraction <= 1",
                });
            }
        }
        if let TreeSelection::Weighted { temperature } = self.selection {
            check_positive("tree.selection_temperature", temperature)?;
        }
        if self.widen_fraction + self.refine_fraction > 1.0 {
            return Err(ConfigError::Inconsistent(
                "tree.widen_fraction + tree.refine_fraction must not exceed 1",
            ));
        }
        Ok(())
    }
}

/// Structure-of-arrays node storage, sized at construction.
#[derive(Clone, Debug)]
struct Arena {
    /// `[max_nodes, L]` latent of each node.
    latent: Vec<f32>,
    /// `[max_nodes, A]` action of the edge into each node.
    action: Vec<f32>,
    /// `[max_nodes, A]` policy prior mean at each node.
    prior_mean: Vec<f32>,
    /// `[max_nodes, A]` policy prior std at each node (clamped), log std before that.
    prior_std: Vec<f32>,
    /// Reward of the edge into each node.
    reward: Vec<f32>,
    /// What the search maximises on that edge: the reward minus the cost on the
    /// change of action ([`ActionConfig::change_cost`]); the reward when it is off.
    gain: Vec<f32>,
    /// Refinement step of each node, relative to its proposal std.
    step: Vec<f32>,
    /// Best return of a trajectory from this node to the horizon.
    best: Vec<f32>,
    parent: Vec<u32>,
    first_child: Vec<u32>,
    next_sibling: Vec<u32>,
    best_child: Vec<u32>,
    /// Trajectories through the node.
    visits: Vec<u32>,
    /// Selections of the current round through the node.
    virtual_visits: Vec<u32>,
    children: Vec<u16>,
    /// Children being added in the current round.
    pending: Vec<u16>,
    depth: Vec<u8>,
    /// Nodes in use (the root is node 0).
    len: usize,
}

impl Arena {
    fn new(capacity: usize, dims: ModelDims) -> Self {
        let (l, a) = (dims.latent_dim, dims.action_dim);
        Self {
            latent: vec![0.0; capacity * l],
            action: vec![0.0; capacity * a],
            prior_mean: vec![0.0; capacity * a],
            prior_std: vec![0.0; capacity * a],
            reward: vec![0.0; capacity],
            gain: vec![0.0; capacity],
            step: vec![REFINE_STEP_START; capacity],
            best: vec![0.0; capacity],
            parent: vec![NONE; capacity],
            first_child: vec![NONE; capacity],
            next_sibling: vec![NONE; capacity],
            best_child: vec![NONE; capacity],
            visits: vec![0; capacity],
            virtual_visits: vec![0; capacity],
            children: vec![0; capacity],
            pending: vec![0; capacity],
            depth: vec![0; capacity],
            len: 0,
        }
    }

    /// Initialises node `n` as a fresh, unlinked node. O(1).
    #[inline]
    fn init(&mut self, n: usize, parent: u32, depth: u8) {
        self.parent[n] = parent;
        self.depth[n] = depth;
        self.first_child[n] = NONE;
        self.next_sibling[n] = NONE;
        self.best_child[n] = NONE;
        self.best[n] = f32::NEG_INFINITY;
        self.visits[n] = 0;
        self.virtual_visits[n] = 0;
        self.children[n] = 0;
        self.pending[n] = 0;
        self.reward[n] = 0.0;
        self.gain[n] = 0.0;
        self.step[n] = REFINE_STEP_START;
    }
}

/// What a new trajectory does after its sampled action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continuation {
    /// The policy prior's mean, or the incumbent without a policy.
    Default,
    /// The previous plan shifted by one step (receding horizon).
    Shifted,
    /// The previous plan as it was (right when the task is static).
    Previous,
}

/// Per-round scratch, sized by `batch_size` at construction.
#[derive(Clone, Debug)]
struct Round {
    /// Selected expansions: parent node, depth of the new node, proposal, and what
    /// the continuation follows.
    parent: Vec<u32>,
    depth: Vec<u8>,
    action: Vec<f32>,
    continuation: Vec<Continuation>,
    /// Whether the proposal refines the best child (for the step adaptation).
    refined: Vec<bool>,
    /// Expansion indices sorted by depth (shallowest first = longest rollout first).
    order: Vec<u32>,
    /// What row `i` (in sorted order) continues with.
    row_continuation: Vec<Continuation>,
    /// Whether row `i` (in sorted order) is a refinement proposal.
    row_refined: Vec<bool>,
    /// Terminal node of row `i`.
    terminal: Vec<u32>,
    /// Nodes at which a selection stopped (virtual visits to undo), `2 * batch_size`.
    stops: Vec<u32>,
    /// `[batch_size, L]` gathered latents (parents, then terminals).
    gather: Vec<f32>,
    /// `[batch_size]` terminal values.
    values: Vec<f32>,
    /// Number of stops recorded.
    stop_count: usize,
}

impl Round {
    fn new(batch: usize, dims: ModelDims) -> Self {
        Self {
            parent: vec![NONE; batch],
            depth: vec![0; batch],
            action: vec![0.0; batch * dims.action_dim],
            continuation: vec![Continuation::Default; batch],
            refined: vec![false; batch],
            order: vec![0; batch],
            row_continuation: vec![Continuation::Default; batch],
            row_refined: vec![false; batch],
            terminal: vec![NONE; batch],
            stops: vec![NONE; 2 * batch],
            gather: vec![0.0; batch * dims.latent_dim],
            values: vec![0.0; batch],
            stop_count: 0,
        }
    }
}

/// Sampled tree search over a [`WorldModel`]; every buffer is sized at construction.
#[derive(Clone, Debug)]
pub struct TreePlanner {
    config: TreeConfig,
    dims: ModelDims,
    bounds: Bounds,
    filter: ActionFilter,
    change_cost: ChangeCost,
    rng: PlannerRng,
    arena: Arena,
    round: Round,
    /// `[horizon, A]` previous plan shifted by one step (or the centre when cold).
    warm: Vec<f32>,
    /// `[horizon, A]` previous plan as it was.
    previous: Vec<f32>,
    has_warm: bool,
    /// `[horizon, A]` actions of the best trajectory so far (starts as `warm`): the
    /// continuation of new trajectories when the model has no policy.
    incumbent: Vec<f32>,
    /// Whether this plan uses `warm` (warm start enabled and a previous plan exists).
    warm_active: bool,
    plan: Plan,
}

/// What the model offers for this plan.
#[derive(Clone, Copy, Debug)]
struct Graphs {
    policy: bool,
    value: bool,
}

impl TreePlanner {
    /// A planner for models of dimensions `dims`, with actions handled by `action`.
    pub fn new(
        config: TreeConfig,
        action: ActionConfig,
        dims: ModelDims,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if dims.latent_dim == 0 || dims.action_dim == 0 {
            return Err(ConfigError::BadDims(dims));
        }
        action.validate(dims.action_dim)?;
        let bounds = Bounds::new(&action);
        let mut warm = vec![0.0; config.horizon * dims.action_dim];
        for row in warm.chunks_exact_mut(dims.action_dim) {
            row.copy_from_slice(&bounds.centre);
        }
        Ok(Self {
            filter: ActionFilter::new(&action),
            change_cost: ChangeCost::new(&action, &bounds),
            rng: PlannerRng::new(config.seed),
            arena: Arena::new(config.max_nodes, dims),
            round: Round::new(config.batch_size, dims),
            incumbent: warm.clone(),
            previous: warm.clone(),
            warm,
            has_warm: false,
            warm_active: false,
            plan: Plan::new(config.horizon, dims.latent_dim, dims.action_dim),
            bounds,
            config,
            dims,
        })
    }

    /// The configuration this planner was built with.
    pub fn config(&self) -> &TreeConfig {
        &self.config
    }

    /// The result of the last plan.
    pub fn last_plan(&self) -> &Plan {
        &self.plan
    }

    /// Restarts the random stream from `seed` (e.g. a different seed per episode).
    pub fn set_seed(&mut self, seed: u64) {
        self.config.seed = seed;
        self.rng = PlannerRng::new(seed);
    }

    /// Nodes in the tree of the last plan (root included).
    pub fn node_count(&self) -> usize {
        self.arena.len
    }

    /// Children a node with `visits` (real + virtual) may have. O(1).
    #[inline]
    fn children_allowed(&self, node: usize, visits: u32) -> usize {
        let (cap, coefficient) = if node == 0 {
            (
                self.config.root_max_children,
                self.config.root_widening_coefficient,
            )
        } else {
            (self.config.max_children, self.config.widening_coefficient)
        };
        let allowed =
            (coefficient * ((visits + 1) as f32).powf(self.config.widening_exponent)).ceil();
        (allowed as usize).clamp(1, cap)
    }

    /// The child of `node` with the highest PUCT score (first on ties).
    ///
    /// Allocation: none. Time: O(children).
    fn puct_child(&self, node: usize) -> u32 {
        let arena = &self.arena;
        let gamma = self.config.discount;
        let (mut q_min, mut q_max) = (f32::INFINITY, f32::NEG_INFINITY);
        let mut c = arena.first_child[node];
        while c != NONE {
            let q = arena.gain[c as usize] + gamma * arena.best[c as usize];
            q_min = q_min.min(q);
            q_max = q_max.max(q);
            c = arena.next_sibling[c as usize];
        }
        let n = (arena.visits[node] + arena.virtual_visits[node]).max(1) as f32;
        let scale = self.config.exploration * n.sqrt();
        let (mut best, mut best_score) = (NONE, f32::NEG_INFINITY);
        let mut c = arena.first_child[node];
        while c != NONE {
            let ci = c as usize;
            let q = arena.gain[ci] + gamma * arena.best[ci];
            let q_norm = if q_max > q_min {
                (q - q_min) / (q_max - q_min)
            } else {
                0.5
            };
            let visits = (arena.visits[ci] + arena.virtual_visits[ci]) as f32;
            let score = q_norm + scale / (1.0 + visits);
            if score > best_score {
                best = c;
                best_score = score;
            }
            c = arena.next_sibling[ci];
        }
        best
    }

    /// Adds a virtual visit to `node` and its ancestors and records the stop. O(depth).
    fn add_virtual_path(&mut self, node: u32) {
        let round = &mut self.round;
        if round.stop_count < round.stops.len() {
            round.stops[round.stop_count] = node;
            round.stop_count += 1;
        }
        let mut n = node;
        while n != NONE {
            self.arena.virtual_visits[n as usize] += 1;
            n = self.arena.parent[n as usize];
        }
    }

    /// Writes a proposal for the `k`-th child of `node` into round slot `slot`;
    /// returns what its continuation follows.
    ///
    /// Allocation: none. Time: O(children + A).
    fn propose(&mut self, node: usize, k: usize, slot: usize, graphs: Graphs) -> Continuation {
        let a = self.dims.action_dim;
        let depth = self.arena.depth[node] as usize;
        let out = slot * a;
        self.round.refined[slot] = false;
        let centre_of = |this: &Self, j: usize| {
            if graphs.policy {
                this.arena.prior_mean[node * a + j]
            } else {
                this.warm[depth * a + j]
            }
        };
        let sigma_of = |this: &Self, j: usize| {
            if graphs.policy {
                this.arena.prior_std[node * a + j]
            } else {
                this.config.sample_std * this.bounds.half_range[j]
            }
        };
        if k == 0 {
            for j in 0..a {
                self.round.action[out + j] = self.bounds.clamp_one(j, centre_of(self, j));
            }
            return Continuation::Default;
        }
        if node == 0 && self.warm_active {
            // Root children 1 and 2 try the previous plan, shifted (already child 0
            // without a policy) and as it was.
            let source = match (k, graphs.policy) {
                (1, true) => Some(Continuation::Shifted),
                (1, false) | (2, true) => Some(Continuation::Previous),
                _ => None,
            };
            if let Some(source) = source {
                let sequence = if source == Continuation::Shifted {
                    &self.warm
                } else {
                    &self.previous
                };
                self.round.action[out..out + a].copy_from_slice(&sequence[..a]);
                return source;
            }
        }
        let u = self.rng.uniform();
        let best = self.arena.best_child[node];
        if self.arena.children[node] >= 2 && best != NONE && u < self.config.refine_fraction {
            self.round.refined[slot] = true;
            let step = self.arena.step[node];
            for j in 0..a {
                let centre = self.arena.action[best as usize * a + j];
                let sample = centre + step * sigma_of(self, j) * self.rng.normal();
                self.round.action[out + j] = self.bounds.clamp_one(j, sample);
            }
            return Continuation::Default;
        }
        let widened = u < self.config.refine_fraction + self.config.widen_fraction;
        let scale = if widened {
            self.config.widen_scale
        } else {
            1.0
        };
        let uniform = !graphs.policy && !self.warm_active;
        for j in 0..a {
            let sample = if uniform {
                self.bounds.low[j] + (self.bounds.high[j] - self.bounds.low[j]) * self.rng.uniform()
            } else {
                centre_of(self, j) + scale * sigma_of(self, j) * self.rng.normal()
            };
            self.round.action[out + j] = self.bounds.clamp_one(j, sample);
        }
        Continuation::Default
    }

    /// Chooses up to `batch_size` expansions that fit in the node and transition budget.
    ///
    /// Allocation: none. Time: O(batch_size · depth · children).
    fn select(&mut self, transitions_left: u64, graphs: Graphs) -> usize {
        let h = self.config.horizon;
        let batch = self.config.batch_size;
        let mut room_nodes = self.config.max_nodes - self.arena.len;
        let mut room_transitions = transitions_left;
        let mut count = 0;
        self.round.stop_count = 0;
        let mut attempts = 0;
        'attempts: while count < batch && attempts < 2 * batch {
            attempts += 1;
            let mut node = 0usize;
            loop {
                let depth = self.arena.depth[node] as usize;
                let kids = (self.arena.children[node] + self.arena.pending[node]) as usize;
                let visits = self.arena.visits[node] + self.arena.virtual_visits[node];
                if kids < self.children_allowed(node, visits) {
                    let cost = h - depth;
                    if cost > room_nodes || cost as u64 > room_transitions {
                        break 'attempts;
                    }
                    room_nodes -= cost;
                    room_transitions -= cost as u64;
                    let continuation = self.propose(node, kids, count, graphs);
                    self.round.parent[count] = node as u32;
                    self.round.depth[count] = (depth + 1) as u8;
                    self.round.continuation[count] = continuation;
                    self.arena.pending[node] += 1;
                    self.add_virtual_path(node as u32);
                    count += 1;
                    break;
                }
                if self.arena.children[node] == 0 {
                    self.add_virtual_path(node as u32);
                    break;
                }
                let child = self.puct_child(node);
                if self.arena.depth[child as usize] as usize >= h {
                    // A leaf at the horizon: nothing to expand. Count a real visit (its
                    // value is known, no model call needed) so that widening above it
                    // progresses, as revisiting a terminal node does in MCTS.
                    let mut n = child;
                    while n != NONE {
                        self.arena.visits[n as usize] += 1;
                        n = self.arena.parent[n as usize];
                    }
                    break;
                }
                node = child as usize;
            }
        }
        count
    }

    /// Whether not even a one-step expansion fits in the nodes or transitions left. O(1).
    fn out_of_room(&self, transitions_left: u64) -> bool {
        self.arena.len >= self.config.max_nodes || transitions_left == 0
    }

    /// Undoes the round's virtual visits and pending counts. O(stops · depth).
    fn clear_round(&mut self, count: usize) {
        for s in 0..self.round.stop_count {
            let mut n = self.round.stops[s];
            while n != NONE {
                self.arena.virtual_visits[n as usize] -= 1;
                n = self.arena.parent[n as usize];
            }
        }
        self.round.stop_count = 0;
        for i in 0..count {
            self.arena.pending[self.round.parent[i] as usize] = 0;
        }
    }

    /// Converts the log std in `prior_std[first..first + rows]` to a clamped std.
    /// O(rows · A).
    fn finish_prior(&mut self, first: usize, rows: usize) {
        let a = self.dims.action_dim;
        for (k, s) in self.arena.prior_std[first * a..(first + rows) * a]
            .iter_mut()
            .enumerate()
        {
            let hr = self.bounds.half_range[k % a];
            *s = s
                .exp()
                .clamp(self.config.min_std * hr, self.config.max_std * hr);
        }
    }

    /// Evaluates the `count` selected expansions: adds their nodes and continuations
    /// to the horizon, level by level, then values the terminal latents.
    /// Returns `OutOfBudget` (leaving the tree as before) if the budget runs out.
    ///
    /// Allocation: none. Time: at most `horizon` step calls, `horizon` policy calls and
    /// one value call of at most `count` rows, plus O(count · horizon · (L + A)).
    fn evaluate<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        meter: &mut Meter,
        count: usize,
        graphs: Graphs,
    ) -> Result<Call, PlanError> {
        let (h, l, a) = (
            self.config.horizon,
            self.dims.latent_dim,
            self.dims.action_dim,
        );
        let start = self.arena.len;
        // Counting sort by depth, shallowest first: the rows that continue longest form
        // a prefix at every level.
        let mut next = 0;
        for d in 1..=h {
            for i in 0..count {
                if self.round.depth[i] as usize == d {
                    self.round.order[next] = i as u32;
                    next += 1;
                }
            }
        }
        // Level 0: the sampled actions.
        for row in 0..count {
            let i = self.round.order[row] as usize;
            let node = start + row;
            let parent = self.round.parent[i];
            self.arena.init(node, parent, self.round.depth[i]);
            self.arena.action[node * a..(node + 1) * a]
                .copy_from_slice(&self.round.action[i * a..(i + 1) * a]);
            let p = parent as usize;
            self.round.gather[row * l..(row + 1) * l]
                .copy_from_slice(&self.arena.latent[p * l..(p + 1) * l]);
            self.round.row_continuation[row] = self.round.continuation[i];
            self.round.row_refined[row] = self.round.refined[i];
            self.round.terminal[row] = node as u32;
        }
        let call = meter.step(
            model,
            &self.round.gather[..count * l],
            &self.arena.action[start * a..(start + count) * a],
            &mut self.arena.latent[start * l..(start + count) * l],
            &mut self.arena.reward[start..start + count],
        )?;
        if call == Call::OutOfBudget {
            return Ok(Call::OutOfBudget);
        }
        self.set_gains(start, count);
        self.arena.len = start + count;
        // Continuations, level by level.
        let mut block = start;
        let mut rows = (0..count)
            .take_while(|&r| (self.arena.depth[start + r] as usize) < h)
            .count();
        while rows > 0 {
            if graphs.policy {
                let (z, mean, std) = (
                    &self.arena.latent[block * l..(block + rows) * l],
                    &mut self.arena.prior_mean[block * a..(block + rows) * a],
                    &mut self.arena.prior_std[block * a..(block + rows) * a],
                );
                if meter.policy(model, z, mean, std, rows)? == Call::OutOfBudget {
                    self.arena.len = start;
                    return Ok(Call::OutOfBudget);
                }
                self.finish_prior(block, rows);
            }
            let new_block = self.arena.len;
            for r in 0..rows {
                let parent = block + r;
                let node = new_block + r;
                let depth = self.arena.depth[parent];
                self.arena.init(node, parent as u32, depth + 1);
                let d = depth as usize;
                let continuation = self.round.row_continuation[r];
                for j in 0..a {
                    let action = match continuation {
                        Continuation::Shifted => self.warm[d * a + j],
                        Continuation::Previous => self.previous[d * a + j],
                        Continuation::Default if graphs.policy => {
                            self.arena.prior_mean[parent * a + j]
                        }
                        Continuation::Default => self.incumbent[d * a + j],
                    };
                    self.arena.action[node * a + j] = self.bounds.clamp_one(j, action);
                }
                self.round.terminal[r] = node as u32;
            }
            let (before, after) = self.arena.latent.split_at_mut(new_block * l);
            let call = meter.step(
                model,
                &before[block * l..(block + rows) * l],
                &self.arena.action[new_block * a..(new_block + rows) * a],
                &mut after[..rows * l],
                &mut self.arena.reward[new_block..new_block + rows],
            )?;
            if call == Call::OutOfBudget {
                self.arena.len = start;
                return Ok(Call::OutOfBudget);
            }
            self.set_gains(new_block, rows);
            self.arena.len = new_block + rows;
            block = new_block;
            rows = (0..rows)
                .take_while(|&r| (self.arena.depth[block + r] as usize) < h)
                .count();
        }
        // Values at the horizon.
        if graphs.value {
            for row in 0..count {
                let n = self.round.terminal[row] as usize;
                self.round.gather[row * l..(row + 1) * l]
                    .copy_from_slice(&self.arena.latent[n * l..(n + 1) * l]);
            }
            if meter.value(
                model,
                &self.round.gather[..count * l],
                &mut self.round.values[..count],
            )? == Call::OutOfBudget
            {
                self.arena.len = start;
                return Ok(Call::OutOfBudget);
            }
        } else {
            self.round.values[..count].fill(0.0);
        }
        Ok(Call::Done)
    }

    /// Sets the gain of nodes `first..first + rows` (rewards already written): the
    /// reward minus the cost on the change from the parent's action (the previous
    /// command for children of the root; none at an episode's first plan).
    ///
    /// Allocation: none. Time: O(rows · A).
    fn set_gains(&mut self, first: usize, rows: usize) {
        let a = self.dims.action_dim;
        let arena = &mut self.arena;
        if !self.change_cost.active() {
            arena.gain[first..first + rows].copy_from_slice(&arena.reward[first..first + rows]);
            return;
        }
        for n in first..first + rows {
            let p = arena.parent[n] as usize;
            let previous = if p == 0 {
                self.filter.previous()
            } else {
                Some(&arena.action[p * a..(p + 1) * a])
            };
            let cost = previous.map_or(0.0, |prev| {
                self.change_cost.of(prev, &arena.action[n * a..(n + 1) * a])
            });
            arena.gain[n] = arena.reward[n] - cost;
        }
    }

    /// Links the nodes added since `start` into the tree and backs up the new
    /// trajectories' returns (max backup) and visits.
    ///
    /// Allocation: none. Time: O(count · horizon).
    fn backup(&mut self, start: usize, count: usize) -> Result<f32, PlanError> {
        let gamma = self.config.discount;
        for n in start..self.arena.len {
            let p = self.arena.parent[n] as usize;
            self.arena.next_sibling[n] = self.arena.first_child[p];
            self.arena.first_child[p] = n as u32;
            self.arena.children[p] += 1;
        }
        let mut best_root = f32::NEG_INFINITY;
        for row in 0..count {
            let terminal = self.round.terminal[row] as usize;
            let mut g = self.round.values[row];
            self.arena.best[terminal] = g;
            self.arena.visits[terminal] += 1;
            let mut n = terminal;
            loop {
                let p = self.arena.parent[n];
                if p == NONE {
                    break;
                }
                g = self.arena.gain[n] + gamma * g;
                if !g.is_finite() {
                    return Err(PlanError::ReturnOverflow);
                }
                let p = p as usize;
                self.arena.visits[p] += 1;
                if g > self.arena.best[p] {
                    self.arena.best[p] = g;
                    self.arena.best_child[p] = n as u32;
                }
                n = p;
            }
            best_root = best_root.max(g);
        }
        // One-fifth rule: a refinement that became its parent's best child grows the
        // parent's step, one that did not shrinks it. Level-0 nodes are rows in order.
        for row in 0..count {
            if self.round.row_refined[row] {
                let node = start + row;
                let p = self.arena.parent[node] as usize;
                let step = if self.arena.best_child[p] == node as u32 {
                    self.arena.step[p] * REFINE_GROW
                } else {
                    self.arena.step[p] * REFINE_SHRINK
                };
                self.arena.step[p] = step.clamp(REFINE_STEP_MIN, REFINE_STEP_MAX);
            }
        }
        Ok(best_root)
    }

    /// Sets the incumbent to the actions of the best trajectory (best children from the
    /// root). Allocation: none. Time: O(horizon · A).
    fn update_incumbent(&mut self) {
        let a = self.dims.action_dim;
        let mut n = 0usize;
        let mut t = 0;
        while self.arena.best_child[n] != NONE && t < self.config.horizon {
            let c = self.arena.best_child[n] as usize;
            self.incumbent[t * a..(t + 1) * a]
                .copy_from_slice(&self.arena.action[c * a..(c + 1) * a]);
            n = c;
            t += 1;
        }
    }

    /// Replaces the plan's first action by the mean of the root children's actions
    /// weighted by `exp(temperature · (q - q_best))` ([`TreeSelection::Weighted`]).
    ///
    /// Allocation: none. Time: O(root children · A).
    fn weighted_root_action(&mut self, temperature: f32) {
        let a = self.dims.action_dim;
        let arena = &self.arena;
        let gamma = self.config.discount;
        let q_best = arena.best[0];
        self.plan.actions[..a].fill(0.0);
        let mut total = 0.0f32;
        let mut c = arena.first_child[0];
        while c != NONE {
            let ci = c as usize;
            let q = arena.gain[ci] + gamma * arena.best[ci];
            let w = (temperature * (q - q_best)).exp();
            total += w;
            for j in 0..a {
                self.plan.actions[j] += w * arena.action[ci * a + j];
            }
            c = arena.next_sibling[ci];
        }
        // total >= 1: the best child has weight exp(0).
        for v in &mut self.plan.actions[..a] {
            *v /= total;
        }
    }

    /// Copies the best trajectory (following best children from the root) into the
    /// plan. Allocation: none. Time: O(horizon · (L + A)).
    fn copy_best_path(&mut self) {
        let (l, a) = (self.dims.latent_dim, self.dims.action_dim);
        let mut n = 0usize;
        let mut t = 0;
        while self.arena.best_child[n] != NONE && t < self.config.horizon {
            let c = self.arena.best_child[n] as usize;
            self.plan.actions[t * a..(t + 1) * a]
                .copy_from_slice(&self.arena.action[c * a..(c + 1) * a]);
            self.plan.latents[(t + 1) * l..(t + 2) * l]
                .copy_from_slice(&self.arena.latent[c * l..(c + 1) * l]);
            self.plan.rewards[t] = self.arena.reward[c];
            n = c;
            t += 1;
        }
        self.plan.steps = t;
    }
}

impl Planner for TreePlanner {
    /// Allocation: none. Time: rounds of at most `horizon` step and policy calls and one
    /// value call of at most `batch_size` rows each, until the budget or the node
    /// capacity runs out; tree work per round is O(batch_size · horizon · (L + A +
    /// children)).
    fn plan<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z0: &[f32],
        budget: Budget,
    ) -> Result<&Plan, PlanError> {
        let started = Instant::now();
        check_inputs(model, self.dims, z0)?;
        let mut meter = Meter::new(budget, model.max_batch());
        let (h, l, a) = (
            self.config.horizon,
            self.dims.latent_dim,
            self.dims.action_dim,
        );
        let graphs = Graphs {
            policy: self.config.use_policy && model.has_policy(),
            value: model.has_value(),
        };
        self.warm_active = self.config.warm_start && self.has_warm;
        if !self.warm_active {
            for row in self.warm.chunks_exact_mut(a) {
                row.copy_from_slice(&self.bounds.centre);
            }
        }
        self.incumbent.copy_from_slice(&self.warm);
        let mut stats = PlanStats {
            best_value: f32::NEG_INFINITY,
            ..PlanStats::default()
        };
        self.plan.latents[..l].copy_from_slice(z0);
        self.plan.steps = 0;
        self.plan.value = None;

        // Root.
        self.arena.len = 1;
        self.arena.init(0, NONE, 0);
        self.arena.latent[..l].copy_from_slice(z0);
        let mut root_prior = false;
        if graphs.policy {
            let (z, mean, std) = (
                &self.arena.latent[..l],
                &mut self.arena.prior_mean[..a],
                &mut self.arena.prior_std[..a],
            );
            root_prior = meter.policy(model, z, mean, std, 1)? == Call::Done;
            if root_prior {
                self.finish_prior(0, 1);
            }
        }

        if !graphs.policy || root_prior {
            let mut empty_rounds = 0;
            loop {
                let count = self.select(meter.transitions_left(), graphs);
                if count == 0 {
                    self.clear_round(0);
                    // Only revisits of horizon leaves: widening may open up after a few
                    // rounds; if not, the tree is saturated (or out of room).
                    empty_rounds += 1;
                    if empty_rounds >= MAX_EMPTY_ROUNDS
                        || self.out_of_room(meter.transitions_left())
                    {
                        break;
                    }
                    continue;
                }
                empty_rounds = 0;
                for i in 0..count {
                    stats.depth_reached = stats.depth_reached.max(u32::from(self.round.depth[i]));
                }
                let start = self.arena.len;
                let call = self.evaluate(model, &mut meter, count, graphs);
                self.clear_round(count);
                if call? == Call::OutOfBudget {
                    break;
                }
                let best = self.backup(start, count)?;
                self.update_incumbent();
                stats.best_value = stats.best_value.max(best);
                stats.trajectories += count as u64;
                stats.nodes_expanded += (self.arena.len - start) as u64;
                stats.iterations += 1;
            }
        }

        if self.arena.best_child[0] != NONE {
            self.copy_best_path();
            self.plan.value = Some(self.arena.best[0]);
            if let TreeSelection::Weighted { temperature } = self.config.selection {
                self.weighted_root_action(temperature);
            }
        } else {
            // Nothing evaluated: the prior mean, else the warm-start (or centre) sequence.
            self.plan.actions.copy_from_slice(&self.warm);
            if root_prior {
                self.plan.actions[..a].copy_from_slice(&self.arena.prior_mean[..a]);
            }
        }
        self.bounds.clamp(&mut self.plan.actions);
        // Warm start for the next plan: this sequence shifted by one step, last repeated.
        self.previous.copy_from_slice(&self.plan.actions);
        self.warm[..(h - 1) * a].copy_from_slice(&self.plan.actions[a..]);
        self.warm[(h - 1) * a..].copy_from_slice(&self.plan.actions[(h - 1) * a..]);
        self.has_warm = true;
        self.filter
            .apply(&self.plan.actions[..a], &mut self.plan.action);

        stats.model_calls = meter.calls;
        stats.model_transitions = meter.transitions;
        stats.budget_exhausted = meter.exhausted;
        stats.elapsed = started.elapsed();
        self.plan.stats = stats;
        Ok(&self.plan)
    }

    fn reset(&mut self) {
        self.has_warm = false;
        self.filter.reset();
        self.rng = PlannerRng::new(self.config.seed);
    }

    fn dims(&self) -> ModelDims {
        self.dims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{StaticTarget, TwoValley};

    fn planner(config: TreeConfig, action_dim: usize) -> TreePlanner {
        let dims = ModelDims {
            obs_dim: 1,
            latent_dim: 1,
            action_dim,
        };
        TreePlanner::new(config, ActionConfig::symmetric(action_dim, 1.0), dims).unwrap()
    }

    #[test]
    fn default_configuration_is_valid() {
        assert_eq!(TreeConfig::default().validate(), Ok(()));
    }

    #[test]
    fn widening_grows_with_visits_up_to_the_caps() {
        let p = planner(TreeConfig::default(), 1);
        assert_eq!(p.children_allowed(1, 0), 2);
        assert_eq!(p.children_allowed(1, 15), 8);
        assert_eq!(p.children_allowed(1, 1_000_000), 16);
        assert_eq!(p.children_allowed(0, 15), 12);
        assert_eq!(p.children_allowed(0, 1_000_000), 256);
        let mut last = 0;
        for visits in 0..2_000 {
            let allowed = p.children_allowed(0, visits);
            assert!(allowed >= last);
            last = allowed;
        }
    }

    #[test]
    fn every_trajectory_reaches_the_horizon_and_values_are_max_backups() {
        let mut model = StaticTarget { target: vec![0.3] };
        let config = TreeConfig {
            horizon: 4,
            batch_size: 16,
            ..TreeConfig::default()
        };
        let mut p = planner(config, 1);
        let plan = p
            .plan(&mut model, &[0.0], Budget::transitions(4_000))
            .unwrap()
            .clone();
        assert_eq!(plan.predicted_steps(), 4);
        let arena = &p.arena;
        let gamma = p.config.discount;
        for n in 0..arena.len {
            let depth = arena.depth[n] as usize;
            if depth < 4 {
                // Inner nodes have children, and their value is the best child's.
                assert!(
                    arena.children[n] > 0,
                    "node {n} at depth {depth} has no child"
                );
                let mut best = f32::NEG_INFINITY;
                let mut c = arena.first_child[n];
                while c != NONE {
                    best = best.max(arena.gain[c as usize] + gamma * arena.best[c as usize]);
                    c = arena.next_sibling[c as usize];
                }
                assert_eq!(best, arena.best[n], "node {n}");
            } else {
                assert_eq!(arena.children[n], 0);
            }
            assert_eq!(arena.virtual_visits[n], 0, "virtual visits are undone");
            assert_eq!(arena.pending[n], 0);
        }
        assert_eq!(plan.value(), Some(arena.best[0]));
        // The executed (first) action is near the static optimum. Without a policy the
        // continuations are open loop (the incumbent), so early children are valued
        // with older continuations and convergence is slower than MPPI's: 0.1 here.
        assert!(
            (plan.actions()[0] - 0.3).abs() < 0.1,
            "{:?}",
            plan.actions()
        );
    }

    #[test]
    fn node_capacity_bounds_the_search() {
        let mut model = TwoValley;
        let config = TreeConfig {
            horizon: 5,
            batch_size: 8,
            max_nodes: 200,
            ..TreeConfig::default()
        };
        let mut p = planner(config, 1);
        let plan = p
            .plan(&mut model, &[0.0], Budget::unlimited())
            .unwrap()
            .clone();
        assert!(p.node_count() <= 200);
        assert!(plan.stats().nodes_expanded as usize == p.node_count() - 1);
        assert!(!plan.stats().budget_exhausted);
    }

    #[test]
    fn a_saturated_tree_stops_without_a_budget() {
        // Horizon 1 and at most 5 root children: 5 trajectories, then nothing to add.
        let mut model = StaticTarget { target: vec![0.3] };
        let config = TreeConfig {
            horizon: 1,
            batch_size: 4,
            root_max_children: 5,
            ..TreeConfig::default()
        };
        let mut p = planner(config, 1);
        let trajectories = p
            .plan(&mut model, &[0.0], Budget::unlimited())
            .unwrap()
            .stats()
            .trajectories;
        assert_eq!(trajectories, 5);
        assert_eq!(p.node_count(), 6);
    }

    #[test]
    fn weighted_selection_averages_the_root_children_by_return() {
        let model = StaticTarget { target: vec![0.3] };
        let plan_with = |selection| {
            let config = TreeConfig {
                batch_size: 16,
                selection,
                ..TreeConfig::default()
            };
            let mut p = planner(config, 1);
            let action = p
                .plan(&mut model.clone(), &[0.0], Budget::transitions(600))
                .unwrap()
                .actions()[0];
            (p, action)
        };
        let (best, best_action) = plan_with(TreeSelection::Best);
        // Same seed, same search: only the choice at the end differs.
        let (_, sharp) = plan_with(TreeSelection::Weighted { temperature: 1e6 });
        assert_eq!(sharp, best_action);
        let (_, flat) = plan_with(TreeSelection::Weighted { temperature: 1e-6 });
        // A vanishing temperature weighs every root child equally.
        let arena = &best.arena;
        let (mut sum, mut n) = (0.0f32, 0.0f32);
        let mut c = arena.first_child[0];
        while c != NONE {
            sum += arena.action[c as usize];
            n += 1.0;
            c = arena.next_sibling[c as usize];
        }
        assert!(n > 2.0);
        assert!((flat - sum / n).abs() < 1e-4, "{flat} vs {}", sum / n);
    }

    #[test]
    fn warm_start_seeds_the_root_with_the_previous_plan() {
        let mut model = StaticTarget {
            target: vec![0.3, -0.4],
        };
        let config = TreeConfig {
            batch_size: 4,
            ..TreeConfig::default()
        };
        let mut p = planner(config, 2);
        let first = p
            .plan(&mut model, &[0.0], Budget::transitions(24))
            .unwrap()
            .actions()
            .to_vec();
        p.plan(&mut model, &[0.0], Budget::transitions(24)).unwrap();
        // Some root child repeats the previous plan's first action exactly.
        let arena = &p.arena;
        let mut c = arena.first_child[0];
        let mut found = false;
        while c != NONE {
            found |= arena.action[c as usize * 2..c as usize * 2 + 2] == first[..2];
            c = arena.next_sibling[c as usize];
        }
        assert!(found);
    }
}
