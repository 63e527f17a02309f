//! MCAP recording: the runtime's reader and the Python `mcap` and `rosbags` readers
//! see exactly what the recorder wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use augur_runtime::record::{
    ChannelId, ChannelQos, PlanStatsMessage, RecordError, Recorder, RecorderOptions,
    RecorderThread, Recording, Schema, DROPPED_MESSAGES_KEY, LIBRARY, OFFERED_QOS_PROFILES_KEY,
    PLAN_STATS_SCHEMA, RECORDER_METADATA_NAME, SAFETY_LIMITED, SAFETY_NOMINAL, SAFETY_SAFE_ACTION,
};
use byteorder::LittleEndian;
use serde::Serialize;
use serde_json::Value;

/// `sensor_msgs/msg/JointState` with its dependencies, from the installed ROS 2 packages
/// (`share/*/msg/*.msg`), concatenated as rosbag2 writes `ros2msg` schemas.
const JOINT_STATE_DEFINITION: &str = r#"# This is a message that holds data to describe the state of a set of torque controlled joints.
#
# The state of each joint (revolute or prismatic) is defined by:
#  * the position of the joint (rad or m),
#  * the velocity of the joint (rad/s or m/s) and
#  * the effort that is applied in the joint (Nm or N).
#
# Each joint is uniquely identified by its name
# The header specifies the time at which the joint states were recorded. All the joint states
# in one message have to be recorded at the same time.
#
# This message consists of a multiple arrays, one for each part of the joint state.
# The goal is to make each of the fields optional. When e.g. your joints have no
# effort associated with them, you can leave the effort array empty.
#
# All arrays in this message should have the same size, or be empty.
# This is the only way to uniquely associate the joint name with the correct
# states.

std_msgs/Header header

string[] name
float64[] position
float64[] velocity
float64[] effort
================================================================================
MSG: std_msgs/msg/Header
# Standard metadata for higher-level stamped data types.
# This is generally used to communicate timestamped data
# in a particular coordinate frame.

# Two-integer timestamp that is expressed as seconds and nanoseconds.
builtin_interfaces/Time stamp

# Transform frame with which this data is associated.
string frame_id
================================================================================
MSG: builtin_interfaces/msg/Time
# This message communicates ROS Time defined here:
# https://design.ros2.org/articles/clock_and_time.html

# The seconds component, valid over all int32 values.
int32 sec

# The nanoseconds component, valid in the range [0, 1e9).
uint32 nanosec
"#;

/// `std_msgs/msg/Float64MultiArray` with its dependencies, likewise.
const FLOAT64_MULTI_ARRAY_DEFINITION: &str = r#"# This was originally provided as an example message.
# It is deprecated as of Foxy
# It is recommended to create your own semantically meaningful message.
# However if you would like to continue using this please use the equivalent in example_msgs.

# Please look at the MultiArrayLayout message definition for
# documentation on all multiarrays.

MultiArrayLayout  layout        # specification of data layout
float64[]         data          # array of data
================================================================================
MSG: std_msgs/msg/MultiArrayLayout
# This was originally provided as an example message.
# It is deprecated as of Foxy
# It is recommended to create your own semantically meaningful message.
# However if you would like to continue using this please use the equivalent in example_msgs.

# The multiarray declares a generic multi-dimensional array of a
# particular data type.  Dimensions are ordered from outer most
# to inner most.
#
# Accessors should ALWAYS be written in terms of dimension stride
# and specified outer-most dimension first.
#
# multiarray(i,j,k) = data[data_offset + dim_stride[1]*i + dim_stride[2]*j + k]
#
# A standard, 3-channel 640x480 image with interleaved color channels
# would be specified as:
#
# dim[0].label  = "height"
# dim[0].size   = 480
# dim[0].stride = 3*640*480 = 921600  (note dim[0] stride is just size of image)
# dim[1].label  = "width"
# dim[1].size   = 640
# dim[1].stride = 3*640 = 1920
# dim[2].label  = "channel"
# dim[2].size   = 3
# dim[2].stride = 3
#
# multiarray(i,j,k) refers to the ith row, jth column, and kth channel.

MultiArrayDimension[] dim # Array of dimension properties
uint32 data_offset        # padding bytes at front of data
================================================================================
MSG: std_msgs/msg/MultiArrayDimension
# This was originally provided as an example message.
# It is deprecated as of Foxy
# It is recommended to create your own semantically meaningful message.
# However if you would like to continue using this please use the equivalent in example_msgs.

string label   # label of given dimension
uint32 size    # size of given dimension (in type units)
uint32 stride  # stride of given dimension
"#;

const JOINT_STATE: Schema = Schema {
    name: "sensor_msgs/msg/JointState",
    definition: JOINT_STATE_DEFINITION,
};
const FLOAT64_MULTI_ARRAY: Schema = Schema {
    name: "std_msgs/msg/Float64MultiArray",
    definition: FLOAT64_MULTI_ARRAY_DEFINITION,
};

// The ROS types, laid out field for field for serde CDR, local to this test.
#[derive(Serialize)]
struct Time {
    sec: i32,
    nanosec: u32,
}
#[derive(Serialize)]
struct Header {
    stamp: Time,
    frame_id: String,
}
#[derive(Serialize)]
struct JointState {
    header: Header,
    name: Vec<String>,
    position: Vec<f64>,
    velocity: Vec<f64>,
    effort: Vec<f64>,
}
#[derive(Serialize)]
struct MultiArrayDimension {
    label: String,
    size: u32,
    stride: u32,
}
#[derive(Serialize)]
struct MultiArrayLayout {
    dim: Vec<MultiArrayDimension>,
    data_offset: u32,
}
#[derive(Serialize)]
struct Float64MultiArray {
    layout: MultiArrayLayout,
    data: Vec<f64>,
}

/// CDR little-endian with its encapsulation header, as rmw sends it.
fn cdr<T: Serialize>(message: &T) -> Vec<u8> {
    let mut bytes = vec![0x00, 0x01, 0x00, 0x00];
    bytes.extend(cdr_encoding::to_vec::<_, LittleEndian>(message).unwrap());
    bytes
}

const T0: u64 = 1_700_000_000_000_000_000;
const PERIOD: u64 = 50_000_000;

fn joint_state(i: u64) -> JointState {
    let t = T0 + i * PERIOD;
    JointState {
        header: Header {
            stamp: Time {
                sec: (t / 1_000_000_000) as i32,
                nanosec: (t % 1_000_000_000) as u32,
            },
            frame_id: format!("frame_{i}"),
        },
        name: vec!["pendulum_joint".into(), "second_joint".into()],
        position: vec![0.125 * i as f64, -1.5 - i as f64],
        velocity: vec![2.25 + i as f64, 1e-3 * i as f64],
        effort: vec![],
    }
}

fn command(i: u64) -> Float64MultiArray {
    Float64MultiArray {
        layout: MultiArrayLayout {
            dim: vec![MultiArrayDimension {
                label: "torque".into(),
                size: 1,
                stride: 1,
            }],
            data_offset: 0,
        },
        data: vec![-2.0 + 0.375 * i as f64],
    }
}

fn plan_stats(i: u64) -> PlanStatsMessage {
    PlanStatsMessage {
        stamp_sec: 1_700_000_000,
        stamp_nanosec: (i * PERIOD) as u32,
        cycle: i,
        model_calls: 10 + i,
        model_transitions: 4096 * (i + 1),
        trajectories: 256 + i,
        nodes_expanded: 100 * i,
        iterations: 3 + i as u32,
        depth_reached: 8 + i as u32,
        best_value: -1.75 + i as f32,
        plan_time_ms: 4.5 + i as f64,
        cycle_time_ms: 6.25 + i as f64,
        budget_exhausted: i % 2 == 0,
        deadline_missed: i == 2,
        safety_state: if i == 2 { SAFETY_SAFE_ACTION } else { 0 },
    }
}

struct Written {
    topic: &'static str,
    sequence: u32,
    log_time: u64,
    publish_time: u64,
    data: Vec<u8>,
}

const CYCLES: u64 = 3;

/// Writes three channels: joint states (best effort), commands (reliable) and plan
/// stats (reliable, latched), one message each per cycle. Commands are written
/// before the joint state of the same cycle but logged after it, so file order and
/// log-time order differ.
fn write_recording(path: &Path) -> (Vec<Written>, augur_runtime::record::RecordSummary) {
    let mut recorder = Recorder::create(path, RecorderOptions::default()).unwrap();
    let joints = recorder
        .add_channel("/joint_states", &JOINT_STATE, &ChannelQos::best_effort(5))
        .unwrap();
    let commands = recorder
        .add_channel(
            "/effort_controller/commands",
            &FLOAT64_MULTI_ARRAY,
            &ChannelQos::reliable(10),
        )
        .unwrap();
    let stats = recorder
        .add_channel(
            "/augur/plan_stats",
            &PLAN_STATS_SCHEMA,
            &ChannelQos::reliable(1).transient_local(),
        )
        .unwrap();
    let mut written = Vec::new();
    for i in 0..CYCLES {
        let t = T0 + i * PERIOD;
        let sequence = i as u32 + 1;
        let mut put = |channel: ChannelId, topic, log_time, publish_time, data: Vec<u8>| {
            recorder
                .write(channel, log_time, publish_time, &data)
                .unwrap();
            written.push(Written {
                topic,
                sequence,
                log_time,
                publish_time,
                data,
            });
        };
        put(
            commands,
            "/effort_controller/commands",
            t + 2_000_000,
            t + 1_900_000,
            cdr(&command(i)),
        );
        put(
            joints,
            "/joint_states",
            t,
            t - 500_000,
            cdr(&joint_state(i)),
        );
        put(
            stats,
            "/augur/plan_stats",
            t + 3_000_000,
            t + 3_000_000,
            plan_stats(i).encode(),
        );
    }
    let summary = recorder.finish().unwrap();
    written.sort_by_key(|w| w.log_time);
    (written, summary)
}

#[test]
fn recording_reads_back_channels_schemas_qos_and_messages_in_log_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.mcap");
    let (written, summary) = write_recording(&path);

    assert_eq!(summary.message_count, 3 * CYCLES);
    assert_eq!(summary.dropped, 0);
    assert!(summary.chunk_count >= 1);
    assert_eq!(
        summary.log_time_range,
        Some((T0, T0 + (CYCLES - 1) * PERIOD + 3_000_000))
    );
    let counts: Vec<_> = summary
        .channels
        .iter()
        .map(|c| (c.topic.as_str(), c.message_count))
        .collect();
    assert_eq!(
        counts,
        [
            ("/joint_states", CYCLES),
            ("/effort_controller/commands", CYCLES),
            ("/augur/plan_stats", CYCLES)
        ]
    );

    let recording = Recording::open(&path).unwrap();
    assert_eq!(recording.profile(), "ros2");
    assert_eq!(recording.library(), LIBRARY);
    assert!(LIBRARY.starts_with("augur "));

    let channels = recording.channels();
    assert_eq!(channels.len(), 3);
    let expected = [
        ("/joint_states", &JOINT_STATE, ChannelQos::best_effort(5)),
        (
            "/effort_controller/commands",
            &FLOAT64_MULTI_ARRAY,
            ChannelQos::reliable(10),
        ),
        (
            "/augur/plan_stats",
            &PLAN_STATS_SCHEMA,
            ChannelQos::reliable(1).transient_local(),
        ),
    ];
    for (channel, (topic, schema, qos)) in channels.iter().zip(expected) {
        assert_eq!(channel.topic, topic);
        assert_eq!(channel.schema_name, schema.name);
        assert_eq!(channel.schema_encoding, "ros2msg");
        assert_eq!(channel.schema_definition, schema.definition);
        assert_eq!(channel.message_encoding, "cdr");
        assert_eq!(channel.qos, Some(qos));
        assert_eq!(
            channel.metadata.get(OFFERED_QOS_PROFILES_KEY),
            Some(&qos.to_rosbag2_yaml())
        );
    }

    let stats = recording.statistics().unwrap();
    assert_eq!(stats.message_count, 3 * CYCLES);
    assert_eq!(stats.schema_count, 3);
    assert_eq!(stats.chunk_count, summary.chunk_count);
    assert!(stats.channel_message_counts.values().all(|&n| n == CYCLES));

    let read: Vec<_> = recording.messages().collect::<Result<_, _>>().unwrap();
    assert_eq!(read.len(), written.len());
    for (message, expected) in read.iter().zip(&written) {
        let channel = recording.channel(message.channel).unwrap();
        assert_eq!(channel.topic, expected.topic);
        assert_eq!(message.sequence, expected.sequence);
        assert_eq!(message.log_time, expected.log_time);
        assert_eq!(message.publish_time, expected.publish_time);
        assert_eq!(message.data, expected.data);
    }
    let decoded: Vec<_> = read
        .iter()
        .filter(|m| recording.channel(m.channel).unwrap().topic == "/augur/plan_stats")
        .map(|m| PlanStatsMessage::decode(&m.data).unwrap())
        .collect();
    assert_eq!(decoded, (0..CYCLES).map(plan_stats).collect::<Vec<_>>());
}

#[test]
fn a_schema_used_by_two_topics_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.mcap");
    let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
    let qos = ChannelQos::reliable(10);
    recorder
        .add_channel("/a", &FLOAT64_MULTI_ARRAY, &qos)
        .unwrap();
    recorder
        .add_channel("/b", &FLOAT64_MULTI_ARRAY, &qos)
        .unwrap();
    let clash = Schema {
        name: FLOAT64_MULTI_ARRAY.name,
        definition: "float64[] data\n",
    };
    assert!(matches!(
        recorder.add_channel("/c", &clash, &qos),
        Err(RecordError::ConflictingSchema { topic, .. }) if topic == "/c"
    ));
    assert!(matches!(
        recorder.add_channel("/a", &JOINT_STATE, &qos),
        Err(RecordError::DuplicateTopic { topic, .. }) if topic == "/a"
    ));
    recorder.finish().unwrap();
    let recording = Recording::open(&path).unwrap();
    assert_eq!(recording.statistics().unwrap().schema_count, 1);
    assert_eq!(recording.channels().len(), 2);
}

#[test]
fn short_payloads_and_unknown_channels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.mcap");
    let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
    let ch = recorder
        .add_channel("/joint_states", &JOINT_STATE, &ChannelQos::reliable(10))
        .unwrap();
    let err = recorder.write(ch, T0, T0, &[0, 1]).unwrap_err();
    assert!(
        matches!(err, RecordError::ShortPayload { len: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/joint_states"), "{err}");
    let err = recorder
        .write(ChannelId(ch.0 + 7), T0, T0, &[0, 1, 0, 0])
        .unwrap_err();
    assert!(matches!(err, RecordError::UnknownChannel { .. }), "{err}");
}

#[test]
fn truncated_and_foreign_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.mcap");
    write_recording(&path);
    let bytes = std::fs::read(&path).unwrap();

    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = Recording::open(&cut).err().unwrap();
    assert!(matches!(err, RecordError::Truncated { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("cut.mcap") && text.contains("truncated"),
        "{text}"
    );

    let foreign = dir.path().join("notes.mcap");
    std::fs::write(&foreign, b"these are not the bytes you are looking for").unwrap();
    let err = Recording::open(&foreign).err().unwrap();
    assert!(matches!(err, RecordError::NotMcap { .. }), "{err}");
    assert!(err.to_string().contains("notes.mcap"), "{err}");

    let missing = dir.path().join("missing.mcap");
    let err = Recording::open(&missing).err().unwrap();
    assert!(matches!(err, RecordError::Read { .. }), "{err}");
}

#[test]
fn a_corrupt_message_record_fails_at_a_named_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.mcap");
    let mut recorder = Recorder::create(
        &path,
        RecorderOptions {
            compression: augur_runtime::record::Compression::None,
            ..RecorderOptions::default()
        },
    )
    .unwrap();
    let ch = recorder
        .add_channel("/joint_states", &JOINT_STATE, &ChannelQos::reliable(10))
        .unwrap();
    let payload = cdr(&joint_state(0));
    recorder.write(ch, T0, T0, &payload).unwrap();
    recorder.finish().unwrap();
    // Make the message record (opcode, u64 length, then a 22-byte header before the
    // payload) claim more bytes than its (uncompressed) chunk holds.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(payload.len())
        .position(|w| w == payload.as_slice())
        .unwrap();
    let length_at = at - 22 - 8;
    assert_eq!(bytes[length_at - 1], 0x05, "message opcode");
    bytes[length_at..length_at + 8].copy_from_slice(&1_000_000u64.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let recording = Recording::open(&path).unwrap();
    let results: Vec<_> = recording.messages().collect();
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err();
    assert!(
        matches!(err, RecordError::Message { index: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("run.mcap"), "{err}");
}

#[test]
fn a_full_recorder_queue_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queued.mcap");
    let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
    let ch = recorder
        .add_channel("/joint_states", &JOINT_STATE, &ChannelQos::reliable(10))
        .unwrap();
    // A write to a channel that was never added makes the recorder thread stop with
    // an error: from then on nothing drains the queue.
    let unknown = ChannelId(ch.0 + 1);
    let handle = RecorderThread::spawn(recorder, 4).unwrap();
    let payload = cdr(&joint_state(0));
    assert!(handle.write(ch, T0, T0, &payload));
    assert!(handle.write(unknown, T0 + 1, T0 + 1, &payload));
    let mut accepted = 2;
    // Every further write returns at once; once the 4 pooled buffers are gone (some
    // may have been written before the failure), each one is dropped and counted.
    for i in 0..100 {
        if handle.write(ch, T0 + 2 + i, T0 + 2 + i, &payload) {
            accepted += 1;
        }
    }
    assert!(accepted <= 2 + 4, "accepted {accepted}");
    assert_eq!(handle.dropped(), 102 - accepted);
    let err = handle.finish().unwrap_err();
    assert!(
        matches!(err, RecordError::UnknownChannel { channel, .. } if channel == unknown.0),
        "{err}"
    );
}

#[test]
fn the_recorder_thread_writes_every_queued_message_and_records_the_drop_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threaded.mcap");
    let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
    let stats = recorder
        .add_channel(
            "/augur/plan_stats",
            &PLAN_STATS_SCHEMA,
            &ChannelQos::reliable(10),
        )
        .unwrap();
    let handle = RecorderThread::spawn(recorder, 8).unwrap();
    let mut sent = Vec::new();
    let mut dropped = 0;
    for i in 0..200u64 {
        let message = plan_stats(i);
        if handle.write_with(stats, T0 + i, T0 + i, |buf| message.encode_into(buf)) {
            sent.push(message);
        } else {
            dropped += 1;
            // Let the recorder thread catch up so that most messages get through.
            std::thread::yield_now();
        }
    }
    assert_eq!(handle.dropped(), dropped);
    let summary = handle.finish().unwrap();
    assert_eq!(summary.dropped, dropped);
    assert_eq!(summary.message_count, sent.len() as u64);

    let recording = Recording::open(&path).unwrap();
    let read: Vec<_> = recording
        .messages()
        .map(|m| PlanStatsMessage::decode(&m.unwrap().data).unwrap())
        .collect();
    assert_eq!(read, sent);
    let meta = recording.metadata(RECORDER_METADATA_NAME).unwrap();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0][DROPPED_MESSAGES_KEY], dropped.to_string());
}

/// The interpreter of the project's Python environment.
fn python() -> PathBuf {
    let python = std::env::var_os("AUGUR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        python.exists(),
        "no Python interpreter at {} (set AUGUR_PYTHON, or run scripts/python-env.sh to create \
         the workspace's .venv with the mcap and rosbags packages)",
        python.display()
    );
    python
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn python_mcap_and_rosbags_decode_every_message_exactly() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.mcap");
    let (written, _) = write_recording(&path);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/read_recording.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} {} failed:\n{}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();

    // The mcap package: header, summary, channels and raw messages.
    let mcap = &seen["mcap"];
    assert_eq!(mcap["profile"], "ros2");
    assert_eq!(mcap["library"], LIBRARY);
    assert_eq!(mcap["statistics"]["message_count"], 3 * CYCLES);
    assert_eq!(mcap["statistics"]["schema_count"], 3);
    assert_eq!(mcap["statistics"]["channel_count"], 3);
    assert_eq!(mcap["statistics"]["message_start_time"], T0);
    assert_eq!(mcap["chunk_compressions"], serde_json::json!(["zstd"]));
    assert!(mcap["chunk_indexes"].as_u64().unwrap() >= 1);
    assert!(mcap["message_index_records"].as_u64().unwrap() >= 3);
    let schemas = [&JOINT_STATE, &FLOAT64_MULTI_ARRAY, &PLAN_STATS_SCHEMA];
    let qos = [
        ChannelQos::best_effort(5),
        ChannelQos::reliable(10),
        ChannelQos::reliable(1).transient_local(),
    ];
    for ((channel, schema), qos) in mcap["channels"]
        .as_array()
        .unwrap()
        .iter()
        .zip(schemas)
        .zip(qos)
    {
        assert_eq!(channel["schema_name"], schema.name);
        assert_eq!(channel["schema_encoding"], "ros2msg");
        assert_eq!(channel["schema_data"], schema.definition);
        assert_eq!(channel["message_encoding"], "cdr");
        assert_eq!(
            channel["metadata"][OFFERED_QOS_PROFILES_KEY],
            qos.to_rosbag2_yaml()
        );
    }
    let messages = mcap["messages"].as_array().unwrap();
    assert_eq!(messages.len(), written.len());
    for (message, expected) in messages.iter().zip(&written) {
        assert_eq!(message["topic"], expected.topic);
        assert_eq!(message["sequence"], expected.sequence);
        assert_eq!(message["log_time"], expected.log_time);
        assert_eq!(message["publish_time"], expected.publish_time);
        assert_eq!(message["data"], hex(&expected.data));
    }

    // rosbags parses the QoS from the channel metadata as rosbag2 would.
    let storage_qos = &seen["rosbags"]["storage_qos"];
    let profile = |topic: &str| storage_qos[topic][0].clone();
    assert_eq!(
        profile("/joint_states"),
        serde_json::json!({
            "history": "keep_last", "depth": 5, "reliability": "best_effort",
            "durability": "volatile", "liveliness": "automatic",
            "deadline": [9223372036u64, 854775807u64],
            "avoid_ros_namespace_conventions": false
        })
    );
    assert_eq!(
        profile("/effort_controller/commands")["reliability"],
        "reliable"
    );
    assert_eq!(
        profile("/augur/plan_stats")["durability"],
        "transient_local"
    );
    assert_eq!(profile("/augur/plan_stats")["depth"], 1);

    // rosbags decodes every message with the definitions from the schemas.
    let decoded = seen["rosbags"]["messages"].as_array().unwrap();
    assert_eq!(decoded.len(), written.len());
    let mut cycle = [0u64; 3];
    for (message, expected) in decoded.iter().zip(&written) {
        assert_eq!(message["topic"], expected.topic);
        assert_eq!(message["log_time"], expected.log_time);
        let m = &message["message"];
        match expected.topic {
            "/joint_states" => {
                let i = cycle[0];
                cycle[0] += 1;
                let js = joint_state(i);
                assert_eq!(message["msgtype"], "sensor_msgs/msg/JointState");
                assert_eq!(m["header"]["stamp"]["sec"], js.header.stamp.sec);
                assert_eq!(m["header"]["stamp"]["nanosec"], js.header.stamp.nanosec);
                assert_eq!(m["header"]["frame_id"], js.header.frame_id);
                assert_eq!(m["name"], serde_json::json!(js.name));
                assert_eq!(m["position"], serde_json::json!(js.position));
                assert_eq!(m["velocity"], serde_json::json!(js.velocity));
                assert_eq!(m["effort"], serde_json::json!([]));
            }
            "/effort_controller/commands" => {
                let i = cycle[1];
                cycle[1] += 1;
                assert_eq!(message["msgtype"], "std_msgs/msg/Float64MultiArray");
                assert_eq!(
                    m["layout"],
                    serde_json::json!({"dim": [{"label": "torque", "size": 1, "stride": 1}], "data_offset": 0})
                );
                assert_eq!(m["data"], serde_json::json!(command(i).data));
            }
            _ => {
                let i = cycle[2];
                cycle[2] += 1;
                let p = plan_stats(i);
                assert_eq!(message["msgtype"], "augur_msgs/msg/PlanStats");
                // rosbags lists the definition's constants among the fields.
                assert_eq!(
                    m,
                    &serde_json::json!({
                        "SAFETY_NOMINAL": SAFETY_NOMINAL,
                        "SAFETY_LIMITED": SAFETY_LIMITED,
                        "SAFETY_SAFE_ACTION": SAFETY_SAFE_ACTION,
                        "stamp": {"sec": p.stamp_sec, "nanosec": p.stamp_nanosec},
                        "cycle": p.cycle,
                        "model_calls": p.model_calls,
                        "model_transitions": p.model_transitions,
                        "trajectories": p.trajectories,
                        "nodes_expanded": p.nodes_expanded,
                        "iterations": p.iterations,
                        "depth_reached": p.depth_reached,
                        "best_value": p.best_value as f64,
                        "plan_time_ms": p.plan_time_ms,
                        "cycle_time_ms": p.cycle_time_ms,
                        "budget_exhausted": p.budget_exhausted,
                        "deadline_missed": p.deadline_missed,
                        "safety_state": p.safety_state,
                    })
                );
            }
        }
    }
    assert_eq!(cycle, [CYCLES; 3]);
}
