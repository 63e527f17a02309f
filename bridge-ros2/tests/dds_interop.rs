//! The DDS transport against real rclpy on Fast DDS (tests/py/dds_peer.py): messages
//! cross both ways with exact values. Both sides keep discovery on loopback
//! (`ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`) and each test has its own domain id.

mod common;

use std::{
    process::{Child, Command},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

use augur_bridge_ros2::{
    msg::*,
    transport::dds::{DdsNode, DdsPublisher, Discovery, NodeOptions},
    transport::{TopicQos, TransportError},
};
use serde_json::{json, Value};

/// Discovery plus delivery must finish within this; a test fails past it.
const DEADLINE: Duration = Duration::from_secs(30);

/// A domain per test, offset per process so concurrent test runs do not cross.
fn domain_id(test_index: u16) -> u16 {
    10 + (std::process::id() % 12) as u16 * 16 + test_index
}

fn node(name: &str, domain_id: u16) -> DdsNode {
    DdsNode::new(&NodeOptions {
        name: name.to_owned(),
        namespace: "/".to_owned(),
        domain_id,
        discovery: Discovery::Localhost,
        security: None,
    })
    .expect("DDS node")
}

/// The rclpy peer; killed when dropped, so a failing test leaves no process behind.
struct Peer {
    child: Child,
    lines: Receiver<String>,
}

impl Peer {
    fn start(domain_id: u16, args: &[&str]) -> Peer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/dds_peer.py");
        let (child, lines) = common::process::spawn_with_lines(
            Command::new(common::python::python())
                .arg(script)
                .args(args)
                .env("ROS_DOMAIN_ID", domain_id.to_string()),
        );
        let mut peer = Peer { child, lines };
        let ready = peer.next_line(Instant::now() + DEADLINE);
        assert_eq!(ready.as_deref(), Some("READY"), "rclpy peer did not start");
        peer
    }

    /// The next stdout line, or `None` at `deadline`. Panics if the peer exited.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait();
                panic!("rclpy peer exited: {status:?}");
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes `message` every 100 ms until the rclpy subscriber prints a JSON line,
/// then checks that line against `expected`.
fn rclpy_receives<M: Message + Clone>(
    test_index: u16,
    type_name: &str,
    topic: &str,
    qos: &TopicQos,
    qos_name: &str,
    message: &M,
    expected: Value,
) {
    let domain = domain_id(test_index);
    let mut peer = Peer::start(domain, &["subscribe", type_name, topic, qos_name]);
    let node = node("augur_publisher", domain);
    let publisher: DdsPublisher<M> = node.publisher(topic, qos).expect("publisher");
    let deadline = Instant::now() + DEADLINE;
    let line = loop {
        publisher.publish(message).expect("publish");
        if let Some(line) =
            peer.next_line((Instant::now() + Duration::from_millis(100)).min(deadline))
        {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "rclpy never received {type_name} on {topic} within {DEADLINE:?}"
        );
    };
    let received: Value = serde_json::from_str(&line).expect("peer prints JSON");
    assert_eq!(received, expected, "{type_name} as rclpy decoded it");
}

fn header(sec: i32, nanosec: u32, frame_id: &str) -> Header {
    Header {
        stamp: Time { sec, nanosec },
        frame_id: frame_id.to_owned(),
    }
}

#[test]
fn rust_subscriber_gets_the_exact_joint_state_rclpy_publishes() {
    let domain = domain_id(0);
    let _peer = Peer::start(domain, &["publish-joint-state", "/joint_states"]);
    let node = node("augur_subscriber", domain);
    let (sender, received) = mpsc::channel();
    let _subscription = node
        .subscribe::<JointState, _>(
            "/joint_states",
            &TopicQos::SENSOR_DATA,
            move |message, info| {
                let _ = sender.send((message, info));
            },
        )
        .expect("subscribe");
    let (message, info) = received
        .recv_timeout(DEADLINE)
        .expect("no JointState from rclpy within the deadline");
    let message = message.expect("decodes");
    assert_eq!(
        message,
        JointState {
            header: header(17, 500, "pendulum_base"),
            name: vec!["pendulum_joint".into(), "second_joint".into()],
            position: vec![0.25, -1.5],
            velocity: vec![3.0, 0.125],
            effort: vec![-2.0, 0.001],
        }
    );
    assert!(
        info.source_timestamp.is_some(),
        "Fast DDS sends source timestamps"
    );
}

/// The first `M` the rclpy peer in `mode` publishes on `topic`, decoded.
fn first_from_rclpy<M: Message + Send + 'static>(test_index: u16, mode: &str, topic: &str) -> M {
    let domain = domain_id(test_index);
    let _peer = Peer::start(domain, &[mode, topic]);
    let node = node("augur_subscriber", domain);
    let (sender, received) = mpsc::channel();
    let _subscription = node
        .subscribe::<M, _>(topic, &TopicQos::SENSOR_DATA, move |message, _| {
            let _ = sender.send(message);
        })
        .expect("subscribe");
    received
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("nothing from rclpy on {topic} within the deadline"))
        .expect("decodes")
}

#[test]
fn rust_subscriber_gets_the_exact_imu_rclpy_publishes() {
    let message: Imu = first_from_rclpy(9, "publish-imu", "/imu/data");
    let covariance = |f: fn(usize) -> f64| std::array::from_fn::<f64, 9, _>(f);
    assert_eq!(
        message,
        Imu {
            header: header(42, 7, "imu_link"),
            orientation: Quaternion {
                x: 0.1,
                y: -0.2,
                z: 0.3,
                w: 0.9
            },
            orientation_covariance: covariance(|i| 0.01 * (i + 1) as f64),
            angular_velocity: Vector3 {
                x: 1.5,
                y: -2.25,
                z: 0.5
            },
            angular_velocity_covariance: covariance(|i| if i == 0 { -1.0 } else { 0.0 }),
            linear_acceleration: Vector3 {
                x: 0.0,
                y: 9.81,
                z: -0.125
            },
            linear_acceleration_covariance: covariance(|i| i as f64),
        }
    );
}

#[test]
fn rust_subscriber_gets_the_exact_odometry_rclpy_publishes() {
    let message: Odometry = first_from_rclpy(10, "publish-odometry", "/odom");
    assert_eq!(
        message,
        Odometry {
            header: header(3, 250_000_000, "odom"),
            child_frame_id: "base_link".into(),
            pose: PoseWithCovariance {
                pose: Pose {
                    position: Point {
                        x: 1.25,
                        y: -3.5,
                        z: 0.0
                    },
                    orientation: Quaternion {
                        x: 0.0,
                        y: 0.0,
                        z: 0.38268343236,
                        w: 0.92387953251
                    },
                },
                covariance: std::array::from_fn(|i| 0.5 * i as f64),
            },
            twist: TwistWithCovariance {
                twist: Twist {
                    linear: Vector3 {
                        x: 0.75,
                        y: 0.0,
                        z: 0.0
                    },
                    angular: Vector3 {
                        x: 0.0,
                        y: 0.0,
                        z: -0.4
                    },
                },
                covariance: std::array::from_fn(|i| (36 - i) as f64),
            },
        }
    );
}

#[test]
fn rclpy_receives_a_reliable_float64_multi_array() {
    let message = Float64MultiArray {
        layout: MultiArrayLayout {
            dim: vec![MultiArrayDimension {
                label: "joints".into(),
                size: 3,
                stride: 3,
            }],
            data_offset: 1,
        },
        data: vec![1.5, -0.25, 2.0],
    };
    rclpy_receives(
        1,
        "std_msgs/msg/Float64MultiArray",
        "/effort_controller/commands",
        &TopicQos::COMMANDS,
        "reliable",
        &message,
        json!({
            "layout": {"dim": [{"label": "joints", "size": 3, "stride": 3}], "data_offset": 1},
            "data": [1.5, -0.25, 2.0]
        }),
    );
}

#[test]
fn rclpy_receives_twist_and_twist_stamped() {
    let twist = Twist {
        linear: Vector3 {
            x: 0.5,
            y: -0.125,
            z: 0.0,
        },
        angular: Vector3 {
            x: 0.0,
            y: 1.0,
            z: -3.25,
        },
    };
    let twist_json = json!({
        "linear": {"x": 0.5, "y": -0.125, "z": 0.0},
        "angular": {"x": 0.0, "y": 1.0, "z": -3.25}
    });
    rclpy_receives(
        2,
        "geometry_msgs/msg/Twist",
        "/cmd_vel",
        &TopicQos::COMMANDS,
        "reliable",
        &twist,
        twist_json.clone(),
    );
    rclpy_receives(
        3,
        "geometry_msgs/msg/TwistStamped",
        "/cmd_vel_stamped",
        &TopicQos::COMMANDS,
        "reliable",
        &TwistStamped {
            header: header(5, 250_000_000, "base_link"),
            twist,
        },
        json!({
            "header": {"stamp": {"sec": 5, "nanosec": 250000000}, "frame_id": "base_link"},
            "twist": twist_json
        }),
    );
}

#[test]
fn rclpy_receives_a_diagnostic_array() {
    let message = DiagnosticArray {
        header: header(100, 7, ""),
        status: vec![
            DiagnosticStatus {
                level: DiagnosticStatus::WARN,
                name: "augur: planner".into(),
                message: "deadline missed".into(),
                hardware_id: "pendulum".into(),
                values: vec![
                    KeyValue {
                        key: "plan_ms".into(),
                        value: "51.5".into(),
                    },
                    KeyValue {
                        key: "misses".into(),
                        value: "3".into(),
                    },
                ],
            },
            DiagnosticStatus {
                level: DiagnosticStatus::STALE,
                name: "augur: joint_states".into(),
                ..DiagnosticStatus::default()
            },
        ],
    };
    // rclpy decodes `byte` as a one-byte bytes object, printed as a list of ints.
    rclpy_receives(
        4,
        "diagnostic_msgs/msg/DiagnosticArray",
        "/diagnostics",
        &TopicQos::DIAGNOSTICS,
        "reliable",
        &message,
        json!({
            "header": {"stamp": {"sec": 100, "nanosec": 7}, "frame_id": ""},
            "status": [
                {"level": [1], "name": "augur: planner", "message": "deadline missed",
                 "hardware_id": "pendulum",
                 "values": [{"key": "plan_ms", "value": "51.5"}, {"key": "misses", "value": "3"}]},
                {"level": [3], "name": "augur: joint_states", "message": "", "hardware_id": "",
                 "values": []}
            ]
        }),
    );
}

#[test]
fn rclpy_receives_a_path() {
    let pose = |t: u32, x: f64, w: f64| PoseStamped {
        header: header(1, t, "map"),
        pose: Pose {
            position: Point { x, y: -x, z: 0.5 },
            orientation: Quaternion {
                x: 0.0,
                y: 0.0,
                z: (1.0 - w * w).sqrt(),
                w,
            },
        },
    };
    let message = Path {
        header: header(1, 0, "map"),
        poses: vec![pose(50_000_000, 0.25, 1.0), pose(100_000_000, 0.75, 0.6)],
    };
    let pose_json = |t: u32, x: f64, w: f64| {
        json!({
            "header": {"stamp": {"sec": 1, "nanosec": t}, "frame_id": "map"},
            "pose": {"position": {"x": x, "y": -x, "z": 0.5},
                     "orientation": {"x": 0.0, "y": 0.0, "z": (1.0 - w * w).sqrt(), "w": w}}
        })
    };
    rclpy_receives(
        5,
        "nav_msgs/msg/Path",
        "/augur/predicted_path",
        &TopicQos::DEFAULT,
        "reliable",
        &message,
        json!({
            "header": {"stamp": {"sec": 1, "nanosec": 0}, "frame_id": "map"},
            "poses": [pose_json(50_000_000, 0.25, 1.0), pose_json(100_000_000, 0.75, 0.6)]
        }),
    );
}

#[test]
fn rclpy_receives_a_clock() {
    rclpy_receives(
        6,
        "rosgraph_msgs/msg/Clock",
        "/clock",
        &TopicQos::CLOCK,
        "clock",
        &Clock {
            clock: Time {
                sec: 1234,
                nanosec: 999_999_999,
            },
        },
        json!({"clock": {"sec": 1234, "nanosec": 999_999_999u32}}),
    );
}

#[test]
fn rclpy_sees_the_rust_node_in_the_ros_graph() {
    let domain = domain_id(7);
    let mut peer = Peer::start(domain, &["wait-node", "augur_visible"]);
    let _node = node("augur_visible", domain);
    let line = peer.next_line(Instant::now() + DEADLINE);
    assert_eq!(line.as_deref(), Some("augur_visible"));
}

/// A `sensor_msgs/JointState` on the wire by name only: a payload far too short.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct TruncatedJointState {
    stamp_sec: i32,
}

impl Message for TruncatedJointState {
    const PACKAGE: &'static str = "sensor_msgs";
    const NAME: &'static str = "JointState";
    const DEFINITION: &'static str = "";
    const TYPE_HASH: &'static str = "";
}

#[test]
fn a_payload_that_does_not_decode_arrives_as_an_error() {
    let domain = domain_id(8);
    let subscriber_node = node("augur_subscriber", domain);
    let (sender, received) = mpsc::channel();
    let _subscription = subscriber_node
        .subscribe::<JointState, _>("/joint_states", &TopicQos::COMMANDS, move |message, _| {
            let _ = sender.send(message);
        })
        .expect("subscribe");
    let publisher_node = node("garbage_publisher", domain);
    let publisher: DdsPublisher<TruncatedJointState> = publisher_node
        .publisher("/joint_states", &TopicQos::COMMANDS)
        .expect("publisher");
    let deadline = Instant::now() + DEADLINE;
    let result = loop {
        publisher
            .publish(&TruncatedJointState { stamp_sec: 3 })
            .expect("publish");
        match received.recv_timeout(Duration::from_millis(100)) {
            Ok(result) => break result,
            Err(_) => assert!(Instant::now() < deadline, "nothing delivered"),
        }
    };
    match result {
        Err(TransportError::Decode { topic, .. }) => assert_eq!(topic, "/joint_states"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}
