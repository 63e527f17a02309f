//! Steady-state model calls on the MLP executor allocate nothing: a counting global
//! allocator sees zero allocations on this thread across encoder, dynamics, value,
//! policy and decoder calls of both shipped packages, at full and partial batches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use augur_planner::WorldModel;
use augur_runtime::model::{Executor, PrepareOptions, TractWorldModel};

struct Counting;

thread_local! {
    /// Allocations on this thread while counting is on (`None`: off).
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the slot may be gone during thread teardown.
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations on this thread while running `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

struct Buffers {
    obs: Vec<f32>,
    z: Vec<f32>,
    action: Vec<f32>,
    z_next: Vec<f32>,
    reward: Vec<f32>,
    value: Vec<f32>,
    mean: Vec<f32>,
    log_std: Vec<f32>,
    decoded: Vec<f32>,
}

fn every_graph(model: &mut TractWorldModel, b: &mut Buffers, n: usize) {
    let d = model.dims();
    let (o, l, a) = (d.obs_dim, d.latent_dim, d.action_dim);
    model
        .encode(&b.obs[..n * o], &mut b.z[..n * l])
        .expect("encode");
    model
        .step(
            &b.z[..n * l],
            &b.action[..n * a],
            &mut b.z_next[..n * l],
            &mut b.reward[..n],
        )
        .expect("step");
    if model.has_value() {
        model
            .value(&b.z[..n * l], &mut b.value[..n])
            .expect("value");
    }
    if model.has_policy() {
        model
            .policy(&b.z[..n * l], &mut b.mean[..n * a], &mut b.log_std[..n * a])
            .expect("policy");
    }
    if model.has_decoder() {
        model
            .decode(&b.z[..n * l], &mut b.decoded[..n * o])
            .expect("decode");
    }
}

#[test]
fn steady_state_calls_of_every_graph_allocate_nothing() {
    for name in ["pendulum", "bench-1m"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name);
        // Under qemu (the aarch64 run) emulation is slow: 70 rows still span a block and
        // a remainder.
        let max = if cfg!(target_arch = "x86_64") {
            512
        } else {
            70
        };
        let options = PrepareOptions {
            batch_sizes: vec![max],
            encoder_batch_sizes: vec![max],
            threads: 1,
            executor: Executor::Mlp,
        };
        let mut model = TractWorldModel::load(&dir, &options).expect("package loads");
        let d = model.dims();
        let (o, l, a) = (d.obs_dim, d.latent_dim, d.action_dim);
        let mut b = Buffers {
            obs: (0..max * o).map(|i| (i % 13) as f32 / 6.0 - 1.0).collect(),
            z: vec![0.0; max * l],
            action: (0..max * a).map(|i| (i % 7) as f32 / 7.0 - 0.5).collect(),
            z_next: vec![0.0; max * l],
            reward: vec![0.0; max],
            value: vec![0.0; max],
            mean: vec![0.0; max * a],
            log_std: vec![0.0; max * a],
            decoded: vec![0.0; max * o],
        };
        // Warm-up: tract-linalg grows its per-thread scratch on first use.
        for n in [max, 1, 64] {
            every_graph(&mut model, &mut b, n);
        }
        let count = allocations(|| {
            for n in [max, 1, 64, max * 3 / 5, max] {
                every_graph(&mut model, &mut b, n);
            }
        });
        assert_eq!(count, 0, "{name}: {count} allocations in steady state");
        // The counter does count: a call that allocates is seen.
        assert!(allocations(|| drop(vec![0u8; 16])) >= 1);
    }
}
