//! Counts heap allocations of one steady-state world-model call:
//! `cargo run --release -p augur-runtime --example allocations_per_call -- models/pendulum 256`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use augur_planner::WorldModel;
use augur_runtime::model::{Executor, PrepareOptions, TractWorldModel};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "models/pendulum".into()),
    );
    let batch: usize = std::env::args().nth(2).map_or(Ok(256), |s| s.parse())?;
    let options = PrepareOptions {
        batch_sizes: vec![batch],
        encoder_batch_sizes: vec![1],
        threads: 1,
        // tract's count; the MLP executor's (0) is asserted by tests/mlp_no_alloc.rs.
        executor: Executor::Tract,
    };
    let mut model = TractWorldModel::load(&dir, &options)?;
    let d = model.dims();
    let (z, a) = (
        vec![0.1f32; batch * d.latent_dim],
        vec![0.2f32; batch * d.action_dim],
    );
    let (mut zn, mut r) = (vec![0.0f32; batch * d.latent_dim], vec![0.0f32; batch]);
    for _ in 0..10 {
        model.step(&z, &a, &mut zn, &mut r)?;
    }
    let (n0, b0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let calls = 100;
    for _ in 0..calls {
        model.step(&z, &a, &mut zn, &mut r)?;
    }
    let n = ALLOCATIONS.load(Ordering::Relaxed) - n0;
    let b = BYTES.load(Ordering::Relaxed) - b0;
    println!(
        "{}: dynamics at batch {batch}: {} allocations, {} bytes per call",
        dir.display(),
        n / calls,
        b / calls
    );
    Ok(())
}
