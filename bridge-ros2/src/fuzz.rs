//! One entry point per parser of untrusted bytes, shared by the coverage-guided fuzz
//! targets (`bridge-ros2/fuzz/`, cargo-fuzz on nightly) and the corpus replay test
//! that runs every checked-in input on stable (`tests/fuzz_corpus.rs`).
//!
//! Each entry runs the node's own code path on the bytes, as far as it goes without a
//! network or a model run: decode, then what the node does with the decoded value
//! (observation extraction, parameter typing, topic resolution, graph checks). An
//! entry returns normally on any input; a panic, an abort or an allocation the size
//! of a length field is a defect.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use augur_runtime::control::{
    FeatureSpec, Field, ObservationMap, SourceKind, SourceSpec, Transform,
};
use augur_runtime::model::graph::load_onnx_bytes;
use augur_runtime::model::{GraphRole, Manifest};
use augur_runtime::record::Recording;

use crate::msg::{Clock, CompressedImage, Image, Imu, JointState, Odometry, PointStamped};
use crate::node::params::NodeParams;
use crate::node::SensorMessage;
use crate::ros_args::{parse_params_text, parse_ros_args, resolve_topic, ParamValue};
use crate::transport::cdr;
use crate::transport::zenoh::Attachment;

/// The fuzzed parsers. The name is the fuzz target's and its corpus folder's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `sensor_msgs/msg/JointState` CDR, then the observation map.
    CdrJointState,
    /// `sensor_msgs/msg/Imu` CDR, then the observation map.
    CdrImu,
    /// `nav_msgs/msg/Odometry` CDR, then the observation map.
    CdrOdometry,
    /// `geometry_msgs/msg/PointStamped` CDR, then the observation map.
    CdrPointStamped,
    /// `rosgraph_msgs/msg/Clock` CDR (`use_sim_time`).
    CdrClock,
    /// rmw_zenoh's per-sample attachment.
    ZenohAttachment,
    /// An MCAP file as `augur replay` reads it: summary, header, metadata, every
    /// message and every cycle record.
    McapReplay,
    /// `manifest.toml`, parsed and validated.
    Manifest,
    /// A `--params-file` YAML, then typed into the pendulum's node parameters.
    ParamsYaml,
    /// A `--ros-args` tail (arguments split at NUL bytes), then typed and resolved.
    RosArgs,
    /// An ONNX file in the dynamics role of the pendulum: protobuf, binding, typing.
    Onnx,
    /// `sensor_msgs/msg/Image` CDR, then the frame checks and the preprocessing into
    /// the pixel pendulum's 64x64 grey frame (centre crop).
    CdrImage,
    /// `sensor_msgs/msg/CompressedImage` CDR, then jpeg / png decoding under a
    /// one-megapixel limit and the preprocessing.
    CdrCompressedImage,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 13] = [
        Target::CdrJointState,
        Target::CdrImu,
        Target::CdrOdometry,
        Target::CdrPointStamped,
        Target::CdrClock,
        Target::ZenohAttachment,
        Target::McapReplay,
        Target::Manifest,
        Target::ParamsYaml,
        Target::RosArgs,
        Target::Onnx,
        Target::CdrImage,
        Target::CdrCompressedImage,
    ];

    /// The fuzz target's name (`cargo fuzz run NAME`), also its corpus folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::CdrJointState => "cdr_joint_state",
            Target::CdrImu => "cdr_imu",
            Target::CdrOdometry => "cdr_odometry",
            Target::CdrPointStamped => "cdr_point_stamped",
            Target::CdrClock => "cdr_clock",
            Target::ZenohAttachment => "zenoh_attachment",
            Target::McapReplay => "mcap_replay",
            Target::Manifest => "manifest",
            Target::ParamsYaml => "params_yaml",
            Target::RosArgs => "ros_args",
            Target::Onnx => "onnx",
            Target::CdrImage => "cdr_image",
            Target::CdrCompressedImage => "cdr_compressed_image",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs the target's code path on `data`. Returns whether the input was accepted
    /// (decoded and used without an error), for corpus statistics; never panics.
    pub fn run(self, data: &[u8]) -> bool {
        match self {
            Target::CdrJointState => sensor::<JointState>(data, 0),
            Target::CdrImu => sensor::<Imu>(data, 1),
            Target::CdrOdometry => sensor::<Odometry>(data, 2),
            Target::CdrPointStamped => sensor::<PointStamped>(data, 3),
            Target::CdrClock => cdr::decode::<Clock>(data).is_ok(),
            Target::ZenohAttachment => Attachment::parse_bytes(data).is_some(),
            Target::McapReplay => mcap_replay(data),
            Target::Manifest => std::str::from_utf8(data)
                .ok()
                .is_some_and(|text| Manifest::parse(text, Path::new("fuzz/manifest.toml")).is_ok()),
            Target::ParamsYaml => params_yaml(data),
            Target::RosArgs => ros_args(data),
            Target::Onnx => onnx(data),
            Target::CdrImage => cdr::decode::<Image>(data).is_ok_and(|image| camera_frame(&image)),
            Target::CdrCompressedImage => cdr::decode::<CompressedImage>(data).is_ok_and(|image| {
                crate::node::decode_compressed(&image.format, &image.data, FUZZ_MAX_PIXELS)
                    .is_ok_and(|decoded| {
                        let (width, height) = decoded.dimensions;
                        camera_frame(&Image {
                            height,
                            width,
                            encoding: decoded.encoding.into(),
                            step: width * if decoded.encoding == "mono8" { 1 } else { 3 },
                            data: decoded.pixels,
                            ..Default::default()
                        })
                    })
            }),
        }
    }
}

/// The pixel limit of the image targets: a fuzzer's claimed sizes stay small.
const FUZZ_MAX_PIXELS: u64 = 1 << 20;

/// A camera frame as the node's ingest takes it: checked, then preprocessed into the
/// pixel pendulum's input (64x64 grey, centre crop).
fn camera_frame(image: &Image) -> bool {
    use augur_runtime::control::{Fit, Preprocessor, RawImage};
    use augur_runtime::model::{ChannelOrder, ImageInput};
    let input = ImageInput {
        name: "pixels".into(),
        height: 64,
        width: 64,
        channels: ChannelOrder::Gray,
        frames: 3,
        scale: 1.0 / 255.0,
        offset: -0.5,
    };
    let mut preprocessor = Preprocessor::new(&input, Fit::CenterCrop);
    let mut frame = vec![0.0; input.frame_len()];
    let raw = RawImage {
        height: image.height,
        width: image.width,
        encoding: &image.encoding,
        step: image.step,
        data: &image.data,
    };
    preprocessor
        .process(&raw, FUZZ_MAX_PIXELS, &mut frame)
        .is_ok()
}

/// One map over the four sensor kinds, every field kind and transform represented,
/// so a decoded message goes through the extraction the node runs.
fn sensor_map() -> &'static (ObservationMap, Vec<String>) {
    static MAP: OnceLock<(ObservationMap, Vec<String>)> = OnceLock::new();
    MAP.get_or_init(|| {
        let sources = [
            ("joint_states", SourceKind::JointState),
            ("imu", SourceKind::Imu),
            ("odom", SourceKind::Odometry),
            ("target", SourceKind::PointStamped),
        ]
        .into_iter()
        .map(|(name, kind)| SourceSpec {
            name: name.into(),
            topic: format!("/{name}"),
            kind,
        })
        .collect::<Vec<_>>();
        let features = [
            (0, "position", Some("pendulum_joint"), "cos"),
            (0, "position", Some("pendulum_joint"), "sin"),
            (0, "velocity", Some("pendulum_joint"), "identity"),
            (0, "effort", Some("elbow"), "wrap_angle"),
            (1, "orientation", None, "quaternion_to_roll"),
            (1, "angular_velocity.z", None, "identity"),
            (2, "pose.orientation", None, "quaternion_to_yaw"),
            (2, "twist.linear.x", None, "identity"),
            (3, "point.y", None, "identity"),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (source, field, joint, transform))| {
            let name = format!("f{i}");
            let kind = sources[source].kind;
            FeatureSpec {
                field: Field::parse(&name, kind, field, joint).expect("a valid field"),
                transform: Transform::parse(transform).expect("a valid transform"),
                name,
                source,
            }
        })
        .collect::<Vec<_>>();
        let names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let map = ObservationMap::new(sources, features, &refs).expect("a valid map");
        (map, names)
    })
}

fn sensor<M: SensorMessage>(data: &[u8], source: usize) -> bool {
    let Ok(message) = cdr::decode::<M>(data) else {
        return false;
    };
    let (map, _) = sensor_map();
    map.extract(source, &message.view(), std::time::Instant::now())
        .is_ok()
}

fn mcap_replay(data: &[u8]) -> bool {
    let Ok(recording) = Recording::from_bytes(Path::new("fuzz.mcap"), data.to_vec()) else {
        return false;
    };
    let _ = recording.statistics();
    for message in recording.messages() {
        if message.is_err() {
            break;
        }
    }
    crate::cli::replay::recorded_run(&recording).is_ok()
}

/// The pendulum's manifest, the one the parameter targets type against.
fn pendulum() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        Manifest::parse(
            include_str!("../../models/pendulum/manifest.toml"),
            Path::new("models/pendulum/manifest.toml"),
        )
        .expect("the pendulum's manifest is valid")
    })
}

/// The pendulum's package defaults (`node.yaml`), which `augur run` reads before
/// any parameter file or `-p` of the user's.
fn pendulum_defaults() -> &'static BTreeMap<String, ParamValue> {
    static DEFAULTS: OnceLock<BTreeMap<String, ParamValue>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        parse_params_text(
            Path::new("models/pendulum/node.yaml"),
            include_str!("../../models/pendulum/node.yaml"),
            "/augur",
        )
        .expect("the pendulum's node defaults are valid")
        .into_iter()
        .collect()
    })
}

/// Types `params` over the pendulum's defaults, as `augur run` does.
fn typed(params: BTreeMap<String, ParamValue>) -> bool {
    let mut merged = pendulum_defaults().clone();
    merged.extend(params);
    NodeParams::from_params(&merged, "models/pendulum".into(), pendulum()).is_ok()
}

fn params_yaml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match parse_params_text(Path::new("fuzz.yaml"), text, "/augur") {
        Ok(params) => typed(params.into_iter().collect()),
        Err(_) => false,
    }
}

fn ros_args(data: &[u8]) -> bool {
    let mut args: Vec<String> = data
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    // A params file named by the input would read this machine's files: point every
    // one at a path that does not exist (the file path itself is the params target).
    for i in 1..args.len() {
        if args[i - 1] == "--params-file" {
            args[i] = "/nonexistent/augur-fuzz.yaml".into();
        }
    }
    let Ok(parsed) = parse_ros_args(&args, "augur") else {
        return false;
    };
    let node = parsed.node_name.as_deref().unwrap_or("augur");
    let namespace = parsed.namespace.as_deref().unwrap_or("/");
    let resolved = ["/joint_states", "~/predicted_path", "diagnostics"]
        .iter()
        .all(|topic| resolve_topic(topic, namespace, node, &parsed.remaps).is_ok());
    typed(parsed.params) && resolved
}

fn onnx(data: &[u8]) -> bool {
    let manifest = pendulum();
    let Some(spec) = manifest.graphs.get(GraphRole::Dynamics) else {
        return false;
    };
    let widths = manifest.expected_shapes(GraphRole::Dynamics);
    load_onnx_bytes(
        GraphRole::Dynamics,
        Path::new("fuzz.onnx"),
        data,
        spec,
        &widths,
    )
    .is_ok()
}
