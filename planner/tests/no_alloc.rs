//! Planning allocates nothing in steady state: a counting global allocator checks 100
//! plans of each planner after one warm-up plan.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use augur_planner::testing::{Mlp, TwoValley};
use augur_planner::{
    ActionConfig, ActionSelection, Budget, MppiConfig, MppiPlanner, Planner, SplitModel,
    TreeConfig, TreePlanner, TreeSelection, WorldModel,
};

/// Counts allocations (from every thread) while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by 100 plans after one warm-up plan.
fn allocations_in_100_plans<P: Planner, M: WorldModel>(
    planner: &mut P,
    model: &mut M,
    z0: &[f32],
    budget: Budget,
) -> u64 {
    planner.plan(model, z0, budget).expect("warm-up plan");
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..100 {
        let plan = planner.plan(model, z0, budget).expect("plan");
        assert!(plan.action().iter().all(|a| a.is_finite()));
    }
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

// The counter sees every thread (the parallel planner's workers must not allocate
// either), so this binary runs without libtest's harness: no other test and no
// harness thread (its "running for over 60 seconds" notice, under qemu) may allocate
// while it counts. `Cargo.toml` declares it with `harness = false`.
fn main() {
    planning_allocates_nothing_in_steady_state();
    println!("planning_allocates_nothing_in_steady_state ... ok");
}

fn planning_allocates_nothing_in_steady_state() {
    // The counter sees allocations at all.
    COUNTING.store(true, Ordering::SeqCst);
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(8));
    COUNTING.store(false, Ordering::SeqCst);
    drop(probe);
    assert_eq!(ALLOCATIONS.swap(0, Ordering::SeqCst), 1);

    let mut mlp = Mlp::new(16, 2, 32, 1024, 1.0, 1);
    let z0 = vec![0.2f32; 16];
    let action = ActionConfig::symmetric(2, 1.0)
        .with_smoothing(0.5)
        .with_max_delta(vec![0.3, 0.3]);

    let mut tree = TreePlanner::new(TreeConfig::default(), action.clone(), mlp.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut tree, &mut mlp, &z0, Budget::transitions(2_000)),
        0,
        "tree"
    );

    let mut mppi = MppiPlanner::new(MppiConfig::tdmpc2(), action.clone(), mlp.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut mppi, &mut mlp, &z0, Budget::unlimited()),
        0,
        "mppi"
    );

    let mean = MppiConfig {
        selection: ActionSelection::Mean,
        exploration_noise: true,
        ..MppiConfig::tdmpc2()
    };
    let mut mppi_mean = MppiPlanner::new(mean, action.clone(), mlp.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut mppi_mean, &mut mlp, &z0, Budget::unlimited()),
        0,
        "mppi mean"
    );

    // The smoothness options: a cost on the change of action, the tree's weighted
    // root selection and the tree without its policy prior.
    let smooth = action.clone().with_change_cost(0.5);
    let weighted = TreeConfig {
        selection: TreeSelection::Weighted { temperature: 2.0 },
        ..TreeConfig::default()
    };
    let mut tree = TreePlanner::new(weighted, smooth.clone(), mlp.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut tree, &mut mlp, &z0, Budget::transitions(2_000)),
        0,
        "tree, change cost and weighted selection"
    );
    let no_policy = TreeConfig {
        use_policy: false,
        ..TreeConfig::default()
    };
    let mut tree = TreePlanner::new(no_policy, smooth.clone(), mlp.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut tree, &mut mlp, &z0, Budget::transitions(2_000)),
        0,
        "tree without its policy prior"
    );
    let mean = MppiConfig {
        selection: ActionSelection::Mean,
        ..MppiConfig::tdmpc2()
    };
    let mut mppi = MppiPlanner::new(mean, smooth, mlp.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut mppi, &mut mlp, &z0, Budget::unlimited()),
        0,
        "mppi with a change cost"
    );

    // A model without value and policy graphs takes the other code paths.
    let mut valley = TwoValley;
    let mut tree = TreePlanner::new(
        TreeConfig::default(),
        ActionConfig::symmetric(1, 1.0),
        valley.dims(),
    )
    .unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut tree, &mut valley, &[0.0], Budget::transitions(2_000)),
        0,
        "tree, no graphs"
    );
    let mut mppi = MppiPlanner::new(
        MppiConfig::tdmpc2(),
        ActionConfig::symmetric(1, 1.0),
        valley.dims(),
    )
    .unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut mppi, &mut valley, &[0.0], Budget::unlimited()),
        0,
        "mppi, no graphs"
    );

    // Deadline budgets read the clock but allocate nothing either.
    let deadline = || {
        Budget::transitions(2_000)
            .with_deadline(std::time::Instant::now() + std::time::Duration::from_secs(3600))
    };
    let mut tree = TreePlanner::new(TreeConfig::default(), action.clone(), mlp.dims()).unwrap();
    tree.plan(&mut mlp, &z0, deadline()).unwrap();
    let budget = deadline();
    assert_eq!(
        allocations_in_100_plans(&mut tree, &mut mlp, &z0, budget),
        0,
        "tree with deadline"
    );

    // Split over two replicas on a persistent worker thread.
    let mut split = SplitModel::new(vec![
        Mlp::new(16, 2, 32, 1024, 1.0, 1),
        Mlp::new(16, 2, 32, 1024, 1.0, 1),
    ])
    .unwrap()
    .with_min_rows_per_chunk(1);
    let mut tree = TreePlanner::new(TreeConfig::default(), action.clone(), split.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut tree, &mut split, &z0, Budget::transitions(2_000)),
        0,
        "tree, split model"
    );
    let mut mppi = MppiPlanner::new(MppiConfig::tdmpc2(), action, split.dims()).unwrap();
    assert_eq!(
        allocations_in_100_plans(&mut mppi, &mut split, &z0, Budget::unlimited()),
        0,
        "mppi, split model"
    );
}
