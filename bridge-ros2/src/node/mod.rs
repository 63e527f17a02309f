//! The Augur node: sensor subscriptions (ingest), the real-time control thread, and a
//! publisher thread for commands, the predicted path, `/diagnostics` and recording.
//!
//! ```text
//! transport rx threads ──extract──► latest-wins queues ──► control thread (runtime)
//!                                                              │ CycleOutput (bounded, try_send)
//!                                                              ▼
//!                              publisher thread: command, ~/predicted_path, /diagnostics, MCAP
//! ```
//! The control thread neither allocates nor blocks on I/O; everything that builds a
//! ROS message runs on the publisher thread.

pub mod diagnostics;
mod ingest;
pub use ingest::{decode_compressed, DecodedImage};
pub mod launch;
pub mod params;
pub mod realtime;
pub mod record;

pub(crate) use ingest::SensorMessage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use augur_planner::{ActionConfig, AnyPlanner, MppiConfig, PlannerConfig, TreeConfig, WorldModel};
use augur_runtime::control::{
    runner, sample_queues, ControlLoop, CycleConfig, CycleOutput, CycleSink, CycleTiming,
    Diagnostics, Shared, SourceKind,
};
use augur_runtime::model::manifest::Manifest;
use augur_runtime::model::package::ModelPackage;
use augur_runtime::model::world_model::{PrepareOptions, TractWorldModel};
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::msg::{Clock, DiagnosticArray};
use crate::msg::{
    CompressedImage, Float64MultiArray, Header, Image, Imu, JointState, Odometry, Path,
    PointStamped, Pose, PoseStamped, Quaternion, Time, Twist, TwistStamped, Vector3,
};
use crate::transport::{Publisher, Subscription, TopicQos, Transport};

use augur_runtime::record::CycleRecord;
use launch::Resolved;
use params::{CommandKind, NodeParams};
use record::{ChannelPlan, NodeRecorder, CYCLE_TOPIC, PLAN_STATS_TOPIC};

/// Outputs queued between the control thread and the publisher thread.
const OUTPUT_QUEUE: usize = 16;

/// ROS names of the node's own topics, after namespace and remapping.
#[derive(Clone, Debug)]
pub struct Topics {
    /// Command topic.
    pub command: String,
    /// `~/predicted_path`.
    pub predicted_path: String,
    /// `~/model_view` (image models).
    pub model_view: String,
    /// `~/imagined` (image models with a decoder).
    pub imagined: String,
    /// `/diagnostics`.
    pub diagnostics: String,
    /// `/clock`.
    pub clock: String,
    /// One per observation source, in source order.
    pub sources: Vec<String>,
}

/// A running node. Dropping it without [`Node::stop`] stops it too.
pub struct Node {
    shared: Arc<Shared>,
    control: Option<JoinHandle<()>>,
    publisher: Option<JoinHandle<PublisherSummary>>,
    _subscriptions: Vec<Subscription>,
    dropped_outputs: Arc<AtomicU64>,
    recorder: Option<Arc<NodeRecorder>>,
    // Last: the transport's node must outlive its publishers and subscriptions.
    _transport: Arc<Transport>,
}

/// What the publisher thread saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublisherSummary {
    /// Commands published.
    pub commands: u64,
    /// Publish calls that failed.
    pub publish_errors: u64,
}

/// A ROS time stamp from the wall clock or `/clock`.
#[derive(Debug, Default)]
struct SimClock {
    latest: Mutex<Option<Time>>,
}

impl Node {
    /// Loads the model (the package's graphs, under the manifest `resolved` already
    /// read), builds the planner, subscribes and starts the threads. Returns once the
    /// model is loaded (errors in the package or parameters are returned here, before
    /// anything runs).
    pub fn start(
        resolved: Resolved,
        transport: Arc<Transport>,
        record: Option<&std::path::Path>,
    ) -> anyhow::Result<Node> {
        let Resolved {
            manifest,
            params,
            topics,
            ..
        } = resolved;
        let shared = Arc::new(Shared::default());
        let (senders, receiver) = sample_queues(params.observation.sources().len());
        let map = Arc::new(params.observation.clone());

        // Publishers first, so the first command has somewhere to go.
        let manifest_image = manifest.image.first().cloned();
        let publishers = Publishers::new(&transport, &params, &topics, manifest_image.is_some())?;

        let recorder = match record {
            Some(path) => {
                let mut plan = ChannelPlan::new();
                for (topic, source) in topics.sources.iter().zip(map.sources()) {
                    match source.kind {
                        SourceKind::JointState => {
                            plan.add::<JointState>(topic, &TopicQos::SENSOR_DATA)
                        }
                        SourceKind::Imu => plan.add::<Imu>(topic, &TopicQos::SENSOR_DATA),
                        SourceKind::Odometry => plan.add::<Odometry>(topic, &TopicQos::SENSOR_DATA),
                        SourceKind::PointStamped => {
                            plan.add::<PointStamped>(topic, &TopicQos::SENSOR_DATA)
                        }
                        SourceKind::Image => plan.add::<Image>(topic, &TopicQos::SENSOR_DATA),
                        SourceKind::CompressedImage => {
                            plan.add::<CompressedImage>(topic, &TopicQos::SENSOR_DATA)
                        }
                    }
                }
                match params.command {
                    CommandKind::Float64MultiArray => {
                        plan.add::<Float64MultiArray>(&topics.command, &TopicQos::COMMANDS)
                    }
                    CommandKind::Twist { .. } => {
                        plan.add::<Twist>(&topics.command, &TopicQos::COMMANDS)
                    }
                    CommandKind::TwistStamped { .. } => {
                        plan.add::<TwistStamped>(&topics.command, &TopicQos::COMMANDS)
                    }
                }
                Some(NodeRecorder::create(path, plan, &params)?)
            }
            None => None,
        };
        let clock = Arc::new(SimClock::default());
        let mut subscriptions = Vec::new();
        // Camera sources feed the model's image input through a frame hand-off; the
        // control thread owns the frame stack.
        let mut frame_senders = Vec::new();
        let mut image_feed = None;
        let mut view = None;
        if let Some(input) = manifest.image.first() {
            let (tx, rx) = augur_runtime::control::frame_slot(input.frame_len());
            frame_senders.push(Some(tx));
            image_feed = Some(augur_runtime::control::ImageFeed::new(input, rx));
            view = Some(augur_runtime::control::view_slots(
                input.input_len(),
                augur_runtime::control::cycle::MAX_PREDICTED_STEPS * manifest.model.latent_dim,
            ));
        }
        let (view_tx, view_rx) = match view {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        for (index, (source, sender)) in map.sources().iter().zip(senders).enumerate() {
            if source.kind.is_image() {
                let (input, mapping) = manifest
                    .image
                    .iter()
                    .zip(&params.images)
                    .find(|(_, m)| m.source == index)
                    .ok_or_else(|| {
                        anyhow!("camera source `{}` feeds no image input", source.name)
                    })?;
                let frames = frame_senders
                    .first_mut()
                    .and_then(Option::take)
                    .ok_or_else(|| anyhow!("one camera source per image input"))?;
                let camera = ingest::CameraIngest::new(
                    index,
                    &topics.sources[index],
                    sender,
                    frames,
                    augur_runtime::control::Preprocessor::new(input, mapping.fit),
                    params.max_image_pixels,
                    recorder.clone(),
                );
                subscriptions.push(ingest::subscribe_camera(
                    &transport,
                    &topics.sources[index],
                    source.kind,
                    camera,
                )?);
                continue;
            }
            subscriptions.push(ingest::subscribe_source(
                &transport,
                &topics.sources[index],
                source.kind,
                index,
                map.clone(),
                sender,
                recorder.clone(),
            )?);
        }
        if params.use_sim_time {
            let clock = clock.clone();
            let shared = shared.clone();
            subscriptions.push(transport.subscribe::<Clock, _>(
                &topics.clock,
                &TopicQos::CLOCK,
                move |message, _| {
                    if let Ok(message) = message {
                        let t = message.clock;
                        let ns = u64::try_from(t.sec).unwrap_or(0) * 1_000_000_000
                            + u64::from(t.nanosec);
                        shared.sim_time_ns.store(ns, Ordering::Relaxed);
                        *clock.latest.lock().unwrap() = Some(t);
                    }
                },
            )?);
        }

        // The control thread loads the model itself (tract state stays on it).
        let (out_tx, out_rx) = bounded::<(CycleOutput, CycleTiming)>(OUTPUT_QUEUE);
        let dropped_outputs = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = bounded::<anyhow::Result<()>>(1);
        let control = {
            let shared = shared.clone();
            let params = params.clone();
            let map = map.clone();
            let dropped = dropped_outputs.clone();
            std::thread::Builder::new()
                .name("augur-control".into())
                .spawn(move || {
                    if let Err(e) = params.realtime.apply_to_control_thread() {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                    let mut control = match build_control(&params, &manifest) {
                        Ok(control) => {
                            release_free_heap();
                            let _ = ready_tx.send(Ok(()));
                            control
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let mut sink = ChannelSink {
                        tx: out_tx,
                        dropped,
                        view: view_tx,
                    };
                    let _span = tracing::info_span!("control").entered();
                    let mut image_feed = image_feed;
                    runner::run(
                        &mut control,
                        &map,
                        &receiver,
                        image_feed.as_mut(),
                        &mut sink,
                        &params.runner,
                        &shared,
                    );
                })?
        };
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the control thread exited while loading the model"))??;

        let publisher = {
            let shared = shared.clone();
            let params = params.clone();
            std::thread::Builder::new()
                .name("augur-publish".into())
                .spawn({
                    let recorder = recorder.clone();
                    let command_topic = topics.command.clone();
                    let viewer = match (view_rx, manifest_image) {
                        (Some(rx), Some(input)) => {
                            let viewer = Viewer::new(rx, input, &params.model);
                            // Loading the decoder freed the package it read.
                            release_free_heap();
                            Some(viewer)
                        }
                        _ => None,
                    };
                    move || {
                        let recording = recorder.as_deref().map(|r| (r, command_topic.as_str()));
                        publish_loop(
                            out_rx, publishers, viewer, &params, &shared, &clock, recording,
                        )
                    }
                })?
        };

        Ok(Node {
            shared,
            control: Some(control),
            publisher: Some(publisher),
            _subscriptions: subscriptions,
            dropped_outputs,
            recorder,
            _transport: transport,
        })
    }

    /// The latest diagnostics.
    pub fn diagnostics(&self) -> Diagnostics {
        *self.shared.diagnostics.lock().unwrap()
    }

    /// Starts a new episode (forgets observations, warm start and faults).
    pub fn reset(&self) {
        self.shared.reset.store(true, Ordering::Relaxed);
    }

    /// Outputs the publisher thread could not keep up with.
    pub fn dropped_outputs(&self) -> u64 {
        self.dropped_outputs.load(Ordering::Relaxed)
    }

    /// Stops the threads and returns what the publisher did.
    pub fn stop(mut self) -> PublisherSummary {
        self.shutdown()
    }

    fn shutdown(&mut self) -> PublisherSummary {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(control) = self.control.take() {
            let _ = control.join();
        }
        let summary = self
            .publisher
            .take()
            .and_then(|p| p.join().ok())
            .unwrap_or_default();
        // Subscriptions hold the recorder too: stop them before closing the file.
        self._subscriptions.clear();
        if let Some(recorder) = self.recorder.take() {
            match NodeRecorder::finish(recorder) {
                Some(Ok(done)) => tracing::info!(
                    path = %done.path.display(),
                    messages = done.message_count,
                    dropped = done.dropped,
                    "recording written"
                ),
                Some(Err(e)) => tracing::error!("recording failed: {e:#}"),
                None => tracing::error!("recording still in use at shutdown"),
            }
        }
        summary
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Loading parses, checks and lowers every graph, and most of what that allocates is
/// freed again; glibc keeps freed pages mapped unless asked. Handing them back once,
/// before the loop starts, makes the node's resident memory what it actually uses.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it is safe to call
    // at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The planner and action settings the parameters give for this model: the manifest's
/// discount and horizon, the planner, its seed and selection, the command's bounds,
/// smoothing, rate limit and change cost. The node and the in-process benches
/// (`augur-hil`) build their planners from this, so both run the same settings.
pub fn planner_settings(params: &NodeParams, manifest: &Manifest) -> (PlannerConfig, ActionConfig) {
    let low = manifest.action.iter().map(|c| c.low).collect();
    let high = manifest.action.iter().map(|c| c.high).collect();
    let mut action = ActionConfig::new(low, high)
        .with_smoothing(params.smoothing)
        .with_change_cost(params.change_cost);
    if !params.max_delta.is_empty() {
        action = action.with_max_delta(params.max_delta.clone());
    }
    let config = match params.planner.as_str() {
        "mppi" => {
            let preset = manifest.mppi_config();
            let shape = params.mppi_shape;
            PlannerConfig::Mppi(MppiConfig {
                seed: params.seed,
                selection: params.mppi_selection,
                horizon: shape.horizon.unwrap_or(preset.horizon),
                samples: shape.samples.unwrap_or(preset.samples),
                iterations: shape.iterations.unwrap_or(preset.iterations),
                elites: shape.elites.unwrap_or(preset.elites),
                ..preset
            })
        }
        _ => {
            let preset = manifest.tree_config();
            PlannerConfig::Tree(TreeConfig {
                seed: params.seed,
                selection: params.tree_selection,
                use_policy: params.tree_use_policy,
                horizon: params.tree_horizon.unwrap_or(preset.horizon),
                ..preset
            })
        }
    };
    (config, action)
}

/// Builds model, planner and control loop from the parameters and the package's
/// manifest (read once, by [`launch::resolve`]).
pub fn build_control(
    params: &NodeParams,
    manifest: &Manifest,
) -> anyhow::Result<ControlLoop<TractWorldModel, AnyPlanner>> {
    let options = PrepareOptions {
        batch_sizes: vec![1, 64, 256, 512],
        encoder_batch_sizes: vec![1, 16],
        threads: params.threads,
        ..PrepareOptions::default()
    };
    let context = || format!("loading model package {}", params.model.display());
    let package =
        ModelPackage::from_manifest(&params.model, manifest.clone(), true).with_context(context)?;
    // `~/imagined` is decoded on the publisher thread (`Viewer`).
    let model = TractWorldModel::from_package(&package, &options)
        .with_context(context)?
        .without_frame_decoder();
    drop(package);
    let (config, action) = planner_settings(params, manifest);
    let dims = model.dims();
    let planner = AnyPlanner::new(config, action, dims)?;
    let control = ControlLoop::new(
        model,
        planner,
        CycleConfig {
            safe_action: params.safe_action.clone(),
            obs_mean: manifest.observation.iter().map(|f| f.mean).collect(),
            obs_std: manifest.observation.iter().map(|f| f.std).collect(),
            prediction_error_threshold: params.prediction_error_threshold,
        },
    )?;
    Ok(control)
}

/// Hands outputs to the publisher thread without blocking; counts what it drops.
struct ChannelSink {
    tx: Sender<(CycleOutput, CycleTiming)>,
    dropped: Arc<AtomicU64>,
    view: Option<augur_runtime::control::ViewSender>,
}

impl CycleSink for ChannelSink {
    fn publish(&mut self, output: &CycleOutput, timing: &CycleTiming) {
        if self.tx.try_send((*output, *timing)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn publish_view(&mut self, output: &CycleOutput, image: &[f32], plan_latents: &[f32]) {
        if let Some(view) = &self.view {
            if !view.offer(output.cycle, image, plan_latents) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The node's publishers.
struct Publishers {
    command: CommandPublisher,
    path: Option<Publisher<Path>>,
    diagnostics: Publisher<DiagnosticArray>,
    /// `~/model_view` and `~/imagined` (image models).
    model_view: Option<Publisher<Image>>,
    imagined: Option<Publisher<Image>>,
}

enum CommandPublisher {
    Array(Publisher<Float64MultiArray>),
    Twist(Publisher<Twist>, Vec<params::TwistField>),
    TwistStamped(Publisher<TwistStamped>, Vec<params::TwistField>),
}

impl Publishers {
    fn new(
        transport: &Transport,
        params: &NodeParams,
        topics: &Topics,
        image_model: bool,
    ) -> anyhow::Result<Self> {
        let qos = TopicQos::COMMANDS;
        let command = match &params.command {
            CommandKind::Float64MultiArray => {
                CommandPublisher::Array(transport.publisher(&topics.command, &qos)?)
            }
            CommandKind::Twist { fields } => {
                CommandPublisher::Twist(transport.publisher(&topics.command, &qos)?, fields.clone())
            }
            CommandKind::TwistStamped { fields } => CommandPublisher::TwistStamped(
                transport.publisher(&topics.command, &qos)?,
                fields.clone(),
            ),
        };
        let path = match params.predicted_path {
            Some(_) => Some(transport.publisher(&topics.predicted_path, &TopicQos::DEFAULT)?),
            None => None,
        };
        let image = |topic: &str| -> anyhow::Result<Option<Publisher<Image>>> {
            Ok(match image_model {
                true => Some(transport.publisher(topic, &TopicQos::DEFAULT)?),
                false => None,
            })
        };
        Ok(Publishers {
            command,
            path,
            diagnostics: transport.publisher(&topics.diagnostics, &TopicQos::DIAGNOSTICS)?,
            model_view: image(&topics.model_view)?,
            imagined: image(&topics.imagined)?,
        })
    }
}

fn twist(fields: &[params::TwistField], command: &[f32]) -> Twist {
    let mut linear = [0.0f64; 3];
    let mut angular = [0.0f64; 3];
    for (field, value) in fields.iter().zip(command) {
        let target = if field.angular {
            &mut angular
        } else {
            &mut linear
        };
        target[field.axis] = *value as f64;
    }
    let v = |a: [f64; 3]| Vector3 {
        x: a[0],
        y: a[1],
        z: a[2],
    };
    Twist {
        linear: v(linear),
        angular: v(angular),
    }
}

/// `~/imagined` is decoded at most this often (the decoder's convolutions run on the
/// publisher thread, beside the control thread).
const IMAGINED_PERIOD: Duration = Duration::from_millis(200);

/// The publisher thread's view of an image model: each cycle's model input (for the
/// recording and `~/model_view`) and the decoder that shows its plan (`~/imagined`).
struct Viewer {
    rx: augur_runtime::control::ViewReceiver,
    input: augur_runtime::model::ImageInput,
    decoder: Option<augur_runtime::model::FrameDecoder>,
    view: augur_runtime::control::CycleView,
    // The cycle `view` holds.
    held: Option<u64>,
    pixels: Vec<u8>,
    frames: Vec<f32>,
    next_imagined: Instant,
}

impl Viewer {
    fn new(
        rx: augur_runtime::control::ViewReceiver,
        input: augur_runtime::model::ImageInput,
        model: &std::path::Path,
    ) -> Viewer {
        let decoder = match augur_runtime::model::FrameDecoder::load(model) {
            Ok(decoder) => decoder,
            Err(e) => {
                tracing::warn!("~/imagined is off: the frame decoder did not load: {e}");
                None
            }
        };
        Viewer {
            rx,
            input,
            decoder,
            view: Default::default(),
            held: None,
            pixels: Vec::new(),
            frames: Vec::new(),
            next_imagined: Instant::now(),
        }
    }

    /// `cycle`'s view, if the control thread handed one over.
    fn take(&mut self, cycle: u64) -> Option<&augur_runtime::control::CycleView> {
        if self.held != Some(cycle) {
            self.held = self.rx.take(cycle, &mut self.view).then_some(cycle);
        }
        self.held.map(|_| &self.view)
    }

    /// `count` frames of the model's size, planar, side by side (oldest left) as one
    /// `sensor_msgs/Image`.
    fn tile(&mut self, frames: &[f32], count: usize, header: Header) -> Image {
        let input = &self.input;
        let (h, w, c) = (input.height, input.width, input.channels.count());
        let frame_len = h * w * c;
        let mut data = vec![0u8; count * frame_len];
        for (k, frame) in frames.chunks_exact(frame_len).take(count).enumerate() {
            augur_runtime::control::frame_to_pixels(input, frame, &mut self.pixels);
            for row in 0..h {
                let src = &self.pixels[row * w * c..(row + 1) * w * c];
                let at = row * count * w * c + k * w * c;
                data[at..at + w * c].copy_from_slice(src);
            }
        }
        let encoding = match input.channels {
            augur_runtime::model::ChannelOrder::Gray => "mono8",
            augur_runtime::model::ChannelOrder::Rgb => "rgb8",
            augur_runtime::model::ChannelOrder::Bgr => "bgr8",
        };
        Image {
            header,
            height: h as u32,
            width: (count * w) as u32,
            encoding: encoding.into(),
            is_bigendian: 0,
            step: (count * w * c) as u32,
            data,
        }
    }

    /// The held cycle's model input: its stacked frames side by side, newest right.
    fn model_view(&mut self, stamp: Time) -> Image {
        let input = std::mem::take(&mut self.view.input);
        let image = self.tile(
            &input,
            self.input.frames,
            Self::header(stamp, "augur_model_view"),
        );
        self.view.input = input;
        image
    }

    /// The held cycle's plan, decoded to frames side by side (now on the left), at most
    /// every [`IMAGINED_PERIOD`].
    fn imagined(&mut self, stamp: Time) -> Option<Image> {
        let now = Instant::now();
        if now < self.next_imagined {
            return None;
        }
        let decoder = self.decoder.as_mut()?;
        let l = decoder.latent_dim();
        let steps =
            (self.view.latents.len() / l.max(1)).min(augur_runtime::model::FrameDecoder::MAX_ROWS);
        if steps == 0 {
            return None;
        }
        self.next_imagined = now + IMAGINED_PERIOD;
        let frame_len = self.input.frame_len();
        self.frames.resize(steps * frame_len, 0.0);
        if let Err(e) = decoder.decode(&self.view.latents[..steps * l], &mut self.frames) {
            tracing::warn!("~/imagined: decoding the plan failed: {e}");
            return None;
        }
        let frames = std::mem::take(&mut self.frames);
        let image = self.tile(&frames, steps, Self::header(stamp, "augur_imagined"));
        self.frames = frames;
        Some(image)
    }

    fn header(stamp: Time, frame_id: &str) -> Header {
        Header {
            stamp,
            frame_id: frame_id.into(),
        }
    }
}

/// The publisher thread: one command per cycle output, the predicted path, and
/// `/diagnostics` every `diagnostics_period`.
///
/// An image model's `~/model_view` and `~/imagined` go out from a thread of their own
/// (`augur-view`) at idle priority: the decoder's transposed convolutions then do not
/// hold a core the frame reader, the control thread or this one wants. On a 2-core
/// machine they were most of the image-to-command latency's tail (docs/benchmarks.md,
/// "Cameras").
fn publish_loop(
    outputs: Receiver<(CycleOutput, CycleTiming)>,
    mut publishers: Publishers,
    viewer: Option<Viewer>,
    params: &NodeParams,
    shared: &Shared,
    clock: &SimClock,
    recording: Option<(&NodeRecorder, &str)>,
) -> PublisherSummary {
    let view_publishers = (publishers.model_view.take(), publishers.imagined.take());
    let records = viewer
        .as_ref()
        .map(|v| (v.rx.clone(), augur_runtime::control::CycleView::default()));
    std::thread::scope(|scope| {
        let views = viewer.and_then(|viewer| {
            let (tx, rx) = crossbeam_channel::bounded::<(u64, Time)>(4);
            let spawned = std::thread::Builder::new()
                .name("augur-view".into())
                .spawn_scoped(scope, move || view_loop(viewer, rx, view_publishers));
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!("~/model_view and ~/imagined are off: no view thread: {e}");
                    None
                }
            }
        });
        publish_cycles(
            outputs, publishers, views, records, params, shared, clock, recording,
        )
    })
}

/// The `augur-view` thread: for each cycle number handed over, that cycle's model
/// view on `~/model_view` and, at most every [`IMAGINED_PERIOD`], its plan decoded on
/// `~/imagined`. Ends when the publisher thread drops its sender.
fn view_loop(
    mut viewer: Viewer,
    cycles: Receiver<(u64, Time)>,
    (model_view, imagined): (Option<Publisher<Image>>, Option<Publisher<Image>>),
) {
    lower_this_thread_priority();
    let warn = |result: Result<(), crate::transport::TransportError>| {
        if let Err(e) = result {
            tracing::warn!("publish failed: {e}");
        }
    };
    for (cycle, stamp) in cycles {
        if viewer.take(cycle).is_none() {
            continue;
        }
        if let Some(p) = &model_view {
            warn(p.publish(&viewer.model_view(stamp)));
        }
        if let Some(p) = &imagined {
            if let Some(image) = viewer.imagined(stamp) {
                warn(p.publish(&image));
            }
        }
    }
}

/// The calling thread to `SCHED_IDLE` (Linux, per thread): it runs on whatever a core
/// has left, and any other thread of the node that wakes takes the core from it at
/// once. (At nice 19 it kept its slice under the EEVDF scheduler and still delayed
/// the frame reader: docs/benchmarks.md, "Cameras".) Falls back to nice 19.
fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain system calls on the calling thread (pid 0 / its own tid).
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
        if !idle {
            let niced = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 19)
            } == 0;
            if !niced {
                tracing::debug!(
                    "view thread keeps its priority: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// [`publish_loop`]'s loop, with the view thread's sender.
#[allow(clippy::too_many_arguments)]
fn publish_cycles(
    outputs: Receiver<(CycleOutput, CycleTiming)>,
    publishers: Publishers,
    views: Option<crossbeam_channel::Sender<(u64, Time)>>,
    mut records: Option<(
        augur_runtime::control::ViewReceiver,
        augur_runtime::control::CycleView,
    )>,
    params: &NodeParams,
    shared: &Shared,
    clock: &SimClock,
    recording: Option<(&NodeRecorder, &str)>,
) -> PublisherSummary {
    let mut summary = PublisherSummary::default();
    let mut next_diagnostics = Instant::now();
    let mut last_cycles = 0u64;
    let mut last_diag_time = Instant::now();
    let stamp = || {
        if params.use_sim_time {
            clock.latest.lock().unwrap().unwrap_or_default()
        } else {
            Time::now()
        }
    };
    let mut count = |result: Result<(), crate::transport::TransportError>| match result {
        Ok(()) => {}
        Err(e) => {
            summary.publish_errors += 1;
            tracing::warn!("publish failed: {e}");
        }
    };
    loop {
        let stop = shared.stop.load(Ordering::Relaxed);
        match outputs.recv_timeout(Duration::from_millis(20)) {
            Ok((output, timing)) => {
                let _publish = tracing::trace_span!("publish", cycle = output.cycle).entered();
                let command = output.command();
                let result = match &publishers.command {
                    CommandPublisher::Array(p) => {
                        let message = Float64MultiArray {
                            layout: Default::default(),
                            data: command.iter().map(|&x| x as f64).collect(),
                        };
                        if let Some((recorder, topic)) = recording {
                            recorder.write(topic, None, &message);
                        }
                        p.publish(&message)
                    }
                    CommandPublisher::Twist(p, fields) => {
                        let message = twist(fields, command);
                        if let Some((recorder, topic)) = recording {
                            recorder.write(topic, None, &message);
                        }
                        p.publish(&message)
                    }
                    CommandPublisher::TwistStamped(p, fields) => {
                        let message = TwistStamped {
                            header: Header {
                                stamp: stamp(),
                                frame_id: String::new(),
                            },
                            twist: twist(fields, command),
                        };
                        if let Some((recorder, topic)) = recording {
                            recorder.write(topic, None, &message);
                        }
                        p.publish(&message)
                    }
                };
                if result.is_ok() {
                    summary.commands += 1;
                }
                if let Some((recorder, _)) = recording {
                    let safety = if output.is_safe() {
                        augur_runtime::record::SAFETY_SAFE_ACTION
                    } else {
                        augur_runtime::record::SAFETY_NOMINAL
                    };
                    let stats = augur_runtime::record::PlanStatsMessage::from_plan(
                        Duration::from_nanos(record::now_ns()),
                        output.cycle,
                        &output.plan,
                        timing.finished - timing.started,
                        timing.deadline_missed,
                        safety,
                    );
                    recorder.write_cdr(PLAN_STATS_TOPIC, |buf| stats.encode_into(buf));
                    let started_ns =
                        record::now_ns().saturating_sub(timing.started.elapsed().as_nanos() as u64);
                    let mut cycle = CycleRecord::from_output(&output, &timing, started_ns);
                    if let Some((rx, view)) = records.as_mut() {
                        if rx.take(output.cycle, view) {
                            cycle.image.extend_from_slice(&view.input);
                        }
                    }
                    recorder.write_cdr(CYCLE_TOPIC, |buf| cycle.encode_into(buf));
                }
                count(result);
                if let Some(views) = &views {
                    // A view thread still busy with earlier cycles skips this one.
                    let _ = views.try_send((output.cycle, stamp()));
                }
                if let (Some(p), Some((x, y))) = (&publishers.path, params.predicted_path) {
                    if output.predicted_steps > 0 {
                        let o = output.obs_dim;
                        let header = Header {
                            stamp: stamp(),
                            frame_id: "augur_predicted".into(),
                        };
                        let poses = (0..output.predicted_steps)
                            .map(|k| {
                                let row = &output.predicted[k * o..(k + 1) * o];
                                PoseStamped {
                                    header: header.clone(),
                                    pose: Pose {
                                        position: crate::msg::Point {
                                            x: row[x] as f64,
                                            y: row[y] as f64,
                                            z: 0.0,
                                        },
                                        orientation: Quaternion {
                                            w: 1.0,
                                            ..Default::default()
                                        },
                                    },
                                }
                            })
                            .collect();
                        count(p.publish(&Path { header, poses }));
                    }
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                if stop {
                    break;
                }
            }
        }
        let now = Instant::now();
        if now >= next_diagnostics {
            let d = *shared.diagnostics.lock().unwrap();
            let elapsed = (now - last_diag_time).as_secs_f64();
            let rate = (d.cycles - last_cycles) as f64 / elapsed.max(1e-9);
            last_cycles = d.cycles;
            last_diag_time = now;
            count(
                publishers
                    .diagnostics
                    .publish(&diagnostics::array(&d, rate, params, stamp())),
            );
            next_diagnostics = now + params.diagnostics_period;
        }
        if stop && outputs.is_empty() {
            break;
        }
    }
    summary
}
