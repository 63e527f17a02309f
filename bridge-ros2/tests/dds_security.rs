//! DDS Security the ROS 2 way, RustDDS peer to peer on loopback (the PyPI Fast DDS is
//! built without security; docs/security.md). A keystore in SROS2's layout
//! (`scripts/dds-keystore.sh`, openssl) holds enclaves `/augur` and `/plant`; the node
//! runs as `augur run` with `ROS_SECURITY_ENABLE=true`, `ROS_SECURITY_STRATEGY=Enforce`,
//! `ROS_SECURITY_KEYSTORE` and `--enclave /augur`. Three participants in this process
//! publish JointStates and subscribe to the commands at the same time:
//!
//! - `plant`, with the `/plant` enclave: its states are accepted, it gets commands;
//! - `intruder`, without security: gets no command, none of its states accepted;
//! - `forged`, an enclave of the same name from another CA: the same.
//!
//! The node's count of accepted states is read from its shutdown log line, not from
//! `/diagnostics`: under DDS Security, RustDDS 0.15.1 does not deliver samples larger
//! than one datagram (fragmented), and a `/diagnostics` array is about 2 KB
//! (docs/security.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use augur_bridge_ros2::msg::{Float64MultiArray, JointState};
use augur_bridge_ros2::transport::dds::{DdsNode, Discovery, NodeOptions};
use augur_bridge_ros2::transport::TopicQos;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn keystore(dir: &Path, enclaves: &[&str]) {
    let status = Command::new(root().join("scripts/dds-keystore.sh"))
        .arg(dir)
        .arg(domain().to_string())
        .args(enclaves)
        .stdout(Stdio::null())
        .status()
        .expect("scripts/dds-keystore.sh runs (openssl)");
    assert!(status.success());
}

fn domain() -> u16 {
    // Apart from the other DDS tests' domains (dds_interop, node_interop).
    200 + (std::process::id() % 30) as u16
}

/// One participant feeding the node and listening to it.
struct Peer {
    node: DdsNode,
    commands: Arc<AtomicU64>,
}

fn peer(name: &str, security: Option<PathBuf>) -> Peer {
    let node = DdsNode::new(&NodeOptions {
        name: name.into(),
        namespace: "/".into(),
        domain_id: domain(),
        discovery: Discovery::Localhost,
        security,
    })
    .expect("participant");
    Peer {
        node,
        commands: Arc::new(AtomicU64::new(0)),
    }
}

#[test]
fn only_a_participant_with_credentials_feeds_the_node_and_reads_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore");
    keystore(&ks, &["/augur", "/plant"]);
    let rogue = dir.path().join("rogue");
    keystore(&rogue, &["/plant"]);

    let mut node = Command::new(env!("CARGO_BIN_EXE_augur"));
    node.args(["run", "--model"])
        .arg(root().join("models/pendulum"))
        .args([
            "--trigger",
            "observation",
            "--ros-args",
            "--enclave",
            "/augur",
        ])
        .args(["-p", "diagnostics_period:=0.5"])
        .env("ROS_DOMAIN_ID", domain().to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env("ROS_SECURITY_ENABLE", "true")
        .env("ROS_SECURITY_STRATEGY", "Enforce")
        .env("ROS_SECURITY_KEYSTORE", &ks)
        .env("RUST_LOG", "off,augur_bridge_ros2::cli=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let node = node.spawn().expect("spawn augur");

    let peers = [
        ("plant", Some(ks.join("enclaves/plant")), 0.3),
        ("intruder", None, 3.0),
        ("forged", Some(rogue.join("enclaves/plant")), 3.0),
    ]
    .map(|(name, security, position)| (name, peer(name, security), position));
    let mut subscriptions = Vec::new();
    let mut publishers = Vec::new();
    for (_, p, _) in &peers {
        let commands = p.commands.clone();
        subscriptions.push(
            p.node
                .subscribe::<Float64MultiArray, _>(
                    "/effort_controller/commands",
                    &TopicQos::COMMANDS,
                    move |message, _| {
                        if message.is_ok() {
                            commands.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                )
                .unwrap(),
        );
        publishers.push(
            p.node
                .publisher::<JointState>("/joint_states", &TopicQos::SENSOR_DATA)
                .unwrap(),
        );
    }
    // Discovery and the authentication handshakes: the plant's states until its first
    // command comes back (the handshakes take a few seconds, more on a loaded
    // machine; at most 30 s), then 4 s of every peer's states at 20 Hz, counted.
    let plant_state = JointState {
        name: vec!["pendulum_joint".into()],
        position: vec![0.3],
        velocity: vec![0.5],
        ..Default::default()
    };
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut warm_up = 0;
    while peers[0].1.commands.load(Ordering::Relaxed) == 0 && Instant::now() < give_up {
        publishers[0].publish(&plant_state).unwrap();
        warm_up += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    peers[0].1.commands.store(0, Ordering::Relaxed);
    let sent = 80;
    for _ in 0..sent {
        for ((_, _, position), publisher) in peers.iter().zip(&publishers) {
            let state = JointState {
                name: vec!["pendulum_joint".into()],
                position: vec![*position],
                velocity: vec![0.5],
                ..Default::default()
            };
            publisher.publish(&state).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    drop(subscriptions);
    // SAFETY: kill(2) on our own child's pid; SIGINT is the node's clean stop.
    unsafe { libc::kill(node.id() as i32, libc::SIGINT) };
    let output = node.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let accepted: u64 = log
        .split_whitespace()
        .find_map(|w| w.strip_prefix("messages_accepted=")?.parse().ok())
        .unwrap_or_else(|| panic!("no shutdown line in the node's log: {log}"));

    let [(_, plant, _), (_, intruder, _), (_, forged, _)] = peers;
    let commands = plant.commands.load(Ordering::Relaxed);
    assert!(
        commands >= sent / 2,
        "the plant got {commands} commands for {sent} states"
    );
    assert!(
        accepted > 0 && accepted <= sent + warm_up,
        "the node accepted {accepted} states; only the plant's {} may count",
        sent + warm_up
    );
    for (name, p) in [("intruder", intruder), ("forged", forged)] {
        assert_eq!(
            p.commands.load(Ordering::Relaxed),
            0,
            "{name} read commands"
        );
    }
}

#[test]
fn enforce_without_an_enclave_refuses_to_start_and_says_which_files_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_augur"))
        .args(["run", "--model"])
        .arg(root().join("models/pendulum"))
        .args(["--duration", "1", "--ros-args", "--enclave", "/nowhere"])
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env("ROS_SECURITY_ENABLE", "true")
        .env("ROS_SECURITY_STRATEGY", "Enforce")
        .env("ROS_SECURITY_KEYSTORE", dir.path())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("enclave `/nowhere`") && stderr.contains("cert.pem"),
        "{stderr}"
    );
}
