//! The steady-state control cycle allocates nothing: a counting global allocator sees
//! zero allocations on the control thread across 24 whole cycles (normalise, encode,
//! prediction monitor, plan, safety, decode of the predicted path) of the shipped
//! pendulum model, for both planners, with fresh and repeated observations, a stale
//! gap and a non-finite observation in between; and the same for the recurrent
//! angle-only pendulum (filter steps, prior steps without a new observation, the state
//! restarted by the gap and by an episode reset).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use augur_planner::{
    ActionConfig, AnyPlanner, Budget, MppiConfig, PlannerConfig, TreeConfig, WorldModel,
};
use augur_runtime::control::{ControlLoop, CycleConfig, CycleInput, Fault, FaultSet};
use augur_runtime::model::{PrepareOptions, TractWorldModel};

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

fn control(name: &str, planner: PlannerConfig) -> ControlLoop<TractWorldModel, AnyPlanner> {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name);
    // The batch sizes the node prepares (bridge-ros2 `build_control`).
    let options = PrepareOptions {
        batch_sizes: vec![1, 64, 256, 512],
        encoder_batch_sizes: vec![1, 16],
        ..PrepareOptions::default()
    };
    let model = TractWorldModel::load(&package, &options).unwrap();
    let manifest = model.manifest().clone();
    let action = ActionConfig::new(vec![-2.0], vec![2.0]).with_smoothing(0.2);
    let planner = AnyPlanner::new(planner, action, model.dims()).unwrap();
    ControlLoop::new(
        model,
        planner,
        CycleConfig {
            safe_action: vec![0.0],
            obs_mean: manifest.observation.iter().map(|f| f.mean).collect(),
            obs_std: manifest.observation.iter().map(|f| f.std).collect(),
            prediction_error_threshold: Some(10.0),
        },
    )
    .unwrap()
}

/// The observation at step `k` of a swinging pendulum (its first `width` features),
/// with a stale gap at 17..19 and a NaN at 23.
fn input(k: usize, obs: &mut [f32; 3], width: usize) -> (Option<&[f32]>, FaultSet) {
    let theta = 2.5 - 0.09 * k as f32;
    *obs = [
        theta.cos(),
        theta.sin(),
        if k == 23 { f32::NAN } else { -1.1 },
    ];
    if k == 23 {
        obs[0] = f32::NAN;
    }
    if (17..19).contains(&(k % 40)) {
        (None, FaultSet::EMPTY.with(Fault::StaleObservation))
    } else {
        (Some(&obs[..width]), FaultSet::EMPTY)
    }
}

fn allocations_in_steady_state(name: &str, planner: PlannerConfig) -> (u64, u64) {
    let mut c = control(name, planner);
    let width = c.dims().obs_dim;
    let mut obs = [0.0f32; 3];
    let mut planned = 0;
    let mut run = |c: &mut ControlLoop<TractWorldModel, AnyPlanner>, k: usize| {
        if k == 50 {
            c.reset();
        }
        let (observation, timing) = input(k, &mut obs, width);
        let out = c.cycle(&CycleInput {
            observation,
            image: None,
            fresh: k % 5 != 0,
            timing_faults: timing,
            budget: Budget::transitions(256),
            // Delay compensation of 0, 1 and 2 steps: every path is taken.
            delay_steps: (k % 3) as u8,
        });
        out.planned as u64
    };
    // Warm-up: every path once (first plans, gap, NaN, recovery).
    for k in 0..40 {
        run(&mut c, k);
    }
    COUNT.with(|n| n.set(Some(0)));
    for k in 40..64 {
        planned += run(&mut c, k);
    }
    (COUNT.with(|n| n.replace(None)).unwrap_or(0), planned)
}

#[test]
fn tree_search_cycles_allocate_nothing_in_steady_state() {
    let (allocations, planned) = allocations_in_steady_state("pendulum", tree());
    assert!(planned >= 20, "only {planned} cycles planned");
    assert_eq!(allocations, 0, "allocations over 24 control cycles");
}

fn tree() -> PlannerConfig {
    PlannerConfig::Tree(TreeConfig {
        discount: 0.975,
        ..TreeConfig::default()
    })
}

fn mppi() -> PlannerConfig {
    PlannerConfig::Mppi(MppiConfig {
        discount: 0.975,
        ..MppiConfig::tdmpc2()
    })
}

#[test]
fn recurrent_model_cycles_allocate_nothing_in_steady_state() {
    for planner in [tree(), mppi()] {
        let (allocations, planned) = allocations_in_steady_state("pendulum-rssm", planner);
        assert!(planned >= 20, "only {planned} cycles planned");
        assert_eq!(allocations, 0, "allocations over 24 control cycles");
    }
}

#[test]
fn mppi_cycles_allocate_nothing_in_steady_state() {
    let (allocations, planned) = allocations_in_steady_state("pendulum", mppi());
    assert!(planned >= 20, "only {planned} cycles planned");
    assert_eq!(allocations, 0, "allocations over 24 control cycles");
}

/// A 500x500 rgb8 frame of a dark rod at angle `theta` (0 up) from the centre on a
/// white background, like gymnasium's pendulum rendering.
fn rod_frame(theta: f32, data: &mut [u8]) {
    let (s, c) = theta.sin_cos();
    for y in 0..500 {
        for x in 0..500 {
            let (dx, dy) = (x as f32 - 250.0, 250.0 - y as f32);
            let along = dx * s + dy * c;
            let across = dx * c - dy * s;
            let on = (0.0..200.0).contains(&along) && across.abs() < 20.0;
            let px = &mut data[(y * 500 + x) * 3..][..3];
            px.copy_from_slice(if on { &[204, 77, 77] } else { &[255, 255, 255] });
        }
    }
}

#[test]
fn pixel_cycles_allocate_nothing_on_the_raw_image_path() {
    use augur_runtime::control::{frame_slot, view_slots, Fit, ImageFeed, Preprocessor, RawImage};
    use std::time::Instant;

    let mut c = control("pendulum-pixels", tree());
    let input = c.model().manifest().image[0].clone();
    let latent = c.dims().latent_dim;
    let mut preprocessor = Preprocessor::new(&input, Fit::Stretch);
    let (mut frames, receiver) = frame_slot(input.frame_len());
    let mut feed = ImageFeed::new(&input, receiver);
    let (view, _view_rx) = view_slots(input.input_len(), 16 * latent);
    let mut rgb = vec![0u8; 500 * 500 * 3];
    let mut planned = 0;
    let mut run = |c: &mut ControlLoop<TractWorldModel, AnyPlanner>, k: usize, rgb: &mut [u8]| {
        if k == 50 {
            c.reset();
            feed.clear();
        }
        // A stale gap at 17..19 (mod 40): no frame, the stack starts afresh.
        let gap = (17..19).contains(&(k % 40));
        if gap {
            feed.clear();
        } else {
            // Ingest: the message's pixels, checked and preprocessed into the hand-off.
            rod_frame(2.5 - 0.09 * k as f32, rgb);
            let raw = RawImage {
                height: 500,
                width: 500,
                encoding: "rgb8",
                step: 1500,
                data: rgb,
            };
            preprocessor
                .process(&raw, 3840 * 2160, frames.frame_mut())
                .unwrap();
            frames.publish(Instant::now());
        }
        // Control thread: the newest frame onto the stack, encode, plan, hand the view
        // to the publisher.
        feed.update();
        let image = feed.input().filter(|_| !gap);
        let out = *c.cycle(&CycleInput {
            observation: image.map(|_| &[][..]),
            image,
            fresh: !gap,
            timing_faults: if gap {
                FaultSet::EMPTY.with(Fault::StaleObservation)
            } else {
                FaultSet::EMPTY
            },
            budget: Budget::transitions(256),
            delay_steps: 0,
        });
        if let Some(image) = image {
            view.offer(out.cycle, image, c.plan_latents());
        }
        out.planned as u64
    };
    for k in 0..40 {
        run(&mut c, k, &mut rgb);
    }
    COUNT.with(|n| n.set(Some(0)));
    for k in 40..64 {
        planned += run(&mut c, k, &mut rgb);
    }
    let allocations = COUNT.with(|n| n.replace(None)).unwrap_or(0);
    assert!(planned >= 20, "only {planned} cycles planned");
    assert_eq!(
        allocations, 0,
        "allocations over 24 pixel cycles (preprocess, stack, conv encoder, plan)"
    );
}
