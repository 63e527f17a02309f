//! The control side of the node: sensor samples in, one planned (or safe) command out
//! per cycle, under a deadline, with a watchdog. Transport-free: the bridge crate feeds
//! [`ingest::SampleSender`]s and implements [`runner::CycleSink`].
//!
//! Threads and queues are described in `docs/architecture.md`, the faults in
//! `docs/safety.md`.

pub mod cycle;
pub mod image;
pub mod ingest;
pub mod observation;
pub mod runner;
pub mod safety;

pub use cycle::{ControlLoop, CycleConfig, CycleInput, CycleOutput, MAX_ACTION, MAX_DELAY_STEPS};
pub use image::{
    frame_slot, frame_to_pixels, view_slots, CycleView, Fit, FrameReceiver, FrameSender,
    FrameStack, ImageError, ImageFeed, PixelEncoding, Preprocessor, RawImage, ViewReceiver,
    ViewSender, VIEW_SLOTS,
};
pub use ingest::{sample_queues, IngestStats, SampleReceiver, SampleSender};
pub use observation::{
    Assembler, FeatureSpec, Field, IngestError, MappingError, ObservationMap, Sample, SensorView,
    SourceKind, SourceSpec, Transform,
};
pub use runner::{
    CycleSink, CycleTiming, DelayCompensator, Diagnostics, RunnerConfig, Shared, Trigger,
    PUBLISH_ALLOWANCE,
};
pub use safety::{Fault, FaultSet, Watchdog};
