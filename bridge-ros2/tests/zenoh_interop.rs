//! Augur's zenoh transport against eclipse-zenoh (Python) speaking rmw_zenoh's wire
//! format: key expressions, CDR payloads (rosbags), attachments and liveliness tokens.
//!
//! Every session uses an explicit `tcp/127.0.0.1:<free port>` with multicast
//! scouting off. The Python side is `tests/py/zenoh_peer.py`, run with the
//! interpreter in `AUGUR_PYTHON` (default `<workspace>/.venv/bin/python`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_bridge_ros2::msg::{
    Float64MultiArray, Header, JointState, MultiArrayDimension, MultiArrayLayout, Time,
};
use augur_bridge_ros2::transport::zenoh::{ZenohNode, ZenohOptions};
use augur_bridge_ros2::transport::{Durability, Received, Reliability, TopicQos, TransportError};

mod common;
use common::python::python;
use serde_json::Value;

/// Upper bound for one test, so a broken peer fails the test instead of hanging it.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

const JOINT_STATE_HASH: &str =
    "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e";
const FLOAT64_MULTI_ARRAY_HASH: &str =
    "RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The Python peer; killed when dropped, so a failing test leaves no process behind.
struct PyPeer {
    child: Child,
    events: Receiver<Value>,
    deadline: Instant,
}

impl PyPeer {
    fn spawn(args: &[&str]) -> PyPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/zenoh_peer.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the Python zenoh peer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) => {
                        if sender.send(event).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("python: {line}"),
                }
            }
        });
        PyPeer {
            child,
            events,
            deadline: Instant::now() + TEST_TIMEOUT,
        }
    }

    /// The next event called `name`, or `None` if `wait` passes first.
    fn try_event(&self, name: &str, wait: Duration) -> Option<Value> {
        let until = (Instant::now() + wait).min(self.deadline);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) if event["event"] == name => return Some(event),
                Ok(event) if event["event"] == "timeout" => {
                    panic!("the Python peer gave up: {event}")
                }
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the Python peer exited before sending `{name}`")
                }
            }
        }
    }

    fn event(&self, name: &str) -> Value {
        self.try_event(name, TEST_TIMEOUT)
            .unwrap_or_else(|| panic!("no `{name}` from the Python peer within {TEST_TIMEOUT:?}"))
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn options(domain_id: u16, connect: Vec<String>, listen: Vec<String>) -> ZenohOptions {
    ZenohOptions {
        name: "augur".into(),
        namespace: "/".into(),
        domain_id,
        connect,
        listen,
        ..ZenohOptions::default()
    }
}

fn qos(reliability: Reliability, depth: usize) -> TopicQos {
    TopicQos {
        reliability,
        durability: Durability::Volatile,
        depth,
    }
}

type Delivery = (Result<JointState, TransportError>, Received);

/// Runs the Python router publishing on `/joint_states` and returns the first delivery.
fn first_joint_state_delivery(garbage: bool) -> (Delivery, Value) {
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let mut args = vec!["publish-joint-state", "--listen", &endpoint];
    if garbage {
        args.push("--garbage");
    }
    let peer = PyPeer::spawn(&args);
    peer.event("ready");

    let node = ZenohNode::new(&options(0, vec![endpoint.clone()], vec![])).expect("node");
    let (sender, deliveries) = mpsc::channel();
    let subscription = node
        .subscribe::<JointState, _>(
            "/joint_states",
            &qos(Reliability::BestEffort, 5),
            move |message, received| {
                let _ = sender.send((message, received));
            },
        )
        .expect("subscribe");
    assert_eq!(
        subscription.key_expr(),
        format!("0/joint_states/sensor_msgs::msg::dds_::JointState_/{JOINT_STATE_HASH}")
    );
    let seen = peer.event("subscriber_seen");
    let delivery = deliveries
        .recv_timeout(TEST_TIMEOUT)
        .expect("a JointState sample from the Python publisher");
    (delivery, seen)
}

#[test]
fn joint_state_from_rmw_zenoh_publisher_arrives_with_exact_values() {
    let ((message, received), seen) = first_joint_state_delivery(false);
    let message = message.expect("the rosbags CDR decodes");
    assert_eq!(
        message,
        JointState {
            header: Header {
                stamp: Time {
                    sec: 1_700_000_000,
                    nanosec: 123_456_789,
                },
                frame_id: "base_link".into(),
            },
            name: vec!["pendulum_joint".into(), "second_joint".into()],
            position: vec![0.25, -3.0],
            velocity: vec![-1.5, 2.0],
            effort: vec![0.125, 0.0],
        }
    );
    // The attachment's source timestamp, exactly as the Python publisher set it.
    assert_eq!(
        received.source_timestamp,
        Some(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_500_000_000))
    );
    // The Python side found our subscriber through its MS liveliness token.
    let tokens = seen["tokens"].as_array().expect("token list");
    assert_eq!(tokens.len(), 1, "{seen}");
    let token = tokens[0].as_str().expect("token string");
    assert!(token.starts_with("@ros2_lv/0/"), "{token}");
    assert!(
        token.ends_with(&format!(
            "/MS/%/%/augur/%joint_states/sensor_msgs::msg::dds_::JointState_/{JOINT_STATE_HASH}/2::,5:,:,:,,"
        )),
        "{token}"
    );
}

#[test]
fn garbage_payload_arrives_as_decode_error() {
    let ((message, _received), _seen) = first_joint_state_delivery(true);
    match message {
        Err(TransportError::Decode { topic, reason }) => {
            assert_eq!(topic, "/joint_states");
            assert!(
                reason.starts_with("sensor_msgs/msg/JointState: "),
                "{reason}"
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn float64_multi_array_reaches_rmw_zenoh_subscriber() {
    // Augur listens, the Python peer connects: the peer-to-peer set-up.
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let node = ZenohNode::new(&options(3, vec![], vec![endpoint.clone()])).expect("node");
    let publisher = node
        .publisher::<Float64MultiArray>(
            "/effort_controller/commands",
            &qos(Reliability::Reliable, 10),
        )
        .expect("publisher");
    let expected_key = format!(
        "3/effort_controller/commands/std_msgs::msg::dds_::Float64MultiArray_/{FLOAT64_MULTI_ARRAY_HASH}"
    );
    assert_eq!(publisher.key_expr(), expected_key);

    let peer = PyPeer::spawn(&[
        "subscribe-float64",
        "--mode",
        "peer",
        "--connect",
        &endpoint,
        "--domain",
        "3",
    ]);
    let ready = peer.event("ready");
    assert_eq!(ready["key"], expected_key.as_str());

    let command = Float64MultiArray {
        layout: MultiArrayLayout {
            dim: vec![MultiArrayDimension {
                label: "torque".into(),
                size: 3,
                stride: 3,
            }],
            data_offset: 0,
        },
        data: vec![-2.0, 0.5, 1.0e-3],
    };
    let before_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64;
    // Publish until the subscriber's declaration has reached us and it reports.
    let sample = loop {
        publisher.publish(&command).expect("publish");
        if let Some(sample) = peer.try_event("sample", Duration::from_millis(50)) {
            break sample;
        }
        assert!(
            Instant::now() < peer.deadline,
            "no sample reached Python within {TEST_TIMEOUT:?}"
        );
    };

    assert_eq!(sample["key"], expected_key.as_str());
    assert_eq!(sample["encapsulation"], "00010000");
    assert_eq!(sample["data"], serde_json::json!([-2.0, 0.5, 0.001]));
    assert_eq!(sample["dims"], serde_json::json!([["torque", 3, 3]]));
    assert_eq!(sample["data_offset"], 0);
    assert_eq!(sample["attachment_len"], 33);
    let gid_hex: String = publisher.gid().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sample["gid"], gid_hex.as_str());
    let sequence = sample["sequence"].as_i64().expect("sequence number");
    assert!(
        sequence >= 1,
        "rmw_zenoh sequence numbers start at 1: {sample}"
    );
    let stamp = sample["stamp_ns"].as_i64().expect("source timestamp");
    let received = sample["received_ns"].as_i64().expect("receive time");
    assert!(
        before_ns <= stamp && stamp <= received,
        "{before_ns} <= {stamp} <= {received}"
    );
}

#[test]
fn liveliness_tokens_announce_node_and_publisher() {
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let peer = PyPeer::spawn(&["liveliness", "--listen", &endpoint]);
    peer.event("ready");

    let node = ZenohNode::new(&options(0, vec![endpoint], vec![])).expect("node");
    let publisher = node
        .publisher::<Float64MultiArray>(
            "/effort_controller/commands",
            &qos(Reliability::BestEffort, 1),
        )
        .expect("publisher");
    let zid = node.zid();
    let expected = [
        format!("@ros2_lv/0/{zid}/0/0/NN/%/%/augur"),
        format!(
            "@ros2_lv/0/{zid}/0/1/MP/%/%/augur/%effort_controller%commands/\
             std_msgs::msg::dds_::Float64MultiArray_/{FLOAT64_MULTI_ARRAY_HASH}/2::,1:,:,:,,"
        ),
    ];
    assert_eq!(node.liveliness_key(), expected[0]);
    assert_eq!(publisher.liveliness_key(), expected[1]);

    let tokens = peer.event("tokens");
    let mut seen: Vec<String> = tokens["tokens"]
        .as_array()
        .expect("token list")
        .iter()
        .map(|token| token.as_str().expect("token string").to_string())
        .collect();
    seen.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn transient_local_is_refused_rather_than_faked() {
    // Nobody listens on this port: a peer session opens anyway and keeps retrying.
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let node = ZenohNode::new(&options(0, vec![endpoint], vec![])).expect("node");
    let qos = TopicQos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        depth: 1,
    };
    match node.publisher::<Float64MultiArray>("/robot_description", &qos) {
        Err(TransportError::Unsupported { topic, .. }) => assert_eq!(topic, "/robot_description"),
        Err(other) => panic!("expected Unsupported, got {other}"),
        Ok(_) => panic!("expected Unsupported, got a publisher"),
    }
    assert!(matches!(
        node.publisher::<Float64MultiArray>(
            "/bad topic",
            &TopicQos {
                durability: Durability::Volatile,
                ..qos
            }
        ),
        Err(TransportError::InvalidName { .. })
    ));
}
