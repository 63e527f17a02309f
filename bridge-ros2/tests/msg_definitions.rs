//! Every message type's `DEFINITION` and `TYPE_HASH` against the ROS 2 packages
//! installed in the Python test environment: the definition must be exactly what
//! rosbag2 writes (its own `.msg`, then each dependency once, depth first, sorted by
//! name within a file), and the hash what the package's type description says.

mod common;

use std::{
    collections::{BTreeSet, HashSet},
    path::Path,
};

use augur_bridge_ros2::msg::*;

const PRIMITIVES: &[&str] = &[
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string",
];

fn msg_text(share: &Path, type_name: &str) -> String {
    let (package, name) = type_name.split_once('/').expect("pkg/Type");
    let path = share.join(package).join("msg").join(format!("{name}.msg"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The field types a `.msg` text refers to, as rosbag2 finds them: the first word of
/// each non-comment line, array brackets stripped, qualified with the package.
fn dependencies(text: &str, package: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| !word.starts_with('#'))
        .map(|word| word.split('[').next().unwrap_or(word))
        .filter(|word| !PRIMITIVES.contains(word))
        .map(|word| {
            if word.contains('/') {
                word.to_owned()
            } else {
                format!("{package}/{word}")
            }
        })
        .collect()
}

fn rosbag2_definition(share: &Path, type_name: &str) -> String {
    fn append(share: &Path, type_name: &str, seen: &mut HashSet<String>) -> String {
        let mut text = msg_text(share, type_name);
        let package = type_name.split('/').next().unwrap_or_default();
        for dependency in dependencies(&text.clone(), package) {
            if seen.insert(dependency.clone()) {
                text.push('\n');
                text.push_str(&"=".repeat(80));
                text.push_str(&format!("\nMSG: {dependency}\n"));
                text.push_str(&append(share, &dependency, seen));
            }
        }
        text
    }
    append(share, type_name, &mut HashSet::new())
}

fn type_hash(share: &Path, package: &str, name: &str) -> String {
    let path = share.join(package).join("msg").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("type description json");
    let full_name = format!("{package}/msg/{name}");
    json["type_hashes"]
        .as_array()
        .expect("type_hashes")
        .iter()
        .find(|entry| entry["type_name"] == full_name.as_str())
        .and_then(|entry| entry["hash_string"].as_str())
        .unwrap_or_else(|| panic!("{} has no hash for {full_name}", path.display()))
        .to_owned()
}

fn check<M: Message>(share: &Path) {
    let type_name = format!("{}/{}", M::PACKAGE, M::NAME);
    let own = msg_text(share, &type_name);
    assert!(
        M::DEFINITION.starts_with(&own),
        "{type_name}: DEFINITION does not start with the installed .msg text"
    );
    assert_eq!(
        M::DEFINITION,
        rosbag2_definition(share, &type_name),
        "{type_name}: DEFINITION differs from rosbag2's concatenation"
    );
    assert_eq!(
        M::TYPE_HASH,
        type_hash(share, M::PACKAGE, M::NAME),
        "{type_name}: TYPE_HASH"
    );
    assert_eq!(M::ros_name(), format!("{}/msg/{}", M::PACKAGE, M::NAME));
}

#[test]
fn every_definition_and_type_hash_matches_the_installed_ros_packages() {
    let share = common::python::ros_share_dir();
    check::<Time>(&share);
    check::<Duration>(&share);
    check::<Header>(&share);
    check::<JointState>(&share);
    check::<Imu>(&share);
    check::<Image>(&share);
    check::<CompressedImage>(&share);
    check::<Odometry>(&share);
    check::<Twist>(&share);
    check::<TwistStamped>(&share);
    check::<Vector3>(&share);
    check::<Quaternion>(&share);
    check::<Point>(&share);
    check::<Pose>(&share);
    check::<PoseStamped>(&share);
    check::<PointStamped>(&share);
    check::<PoseWithCovariance>(&share);
    check::<TwistWithCovariance>(&share);
    check::<Float64MultiArray>(&share);
    check::<MultiArrayLayout>(&share);
    check::<MultiArrayDimension>(&share);
    check::<DiagnosticArray>(&share);
    check::<DiagnosticStatus>(&share);
    check::<KeyValue>(&share);
    check::<augur_bridge_ros2::msg::Path>(&share);
    check::<Clock>(&share);
}

#[test]
fn dependency_sections_use_the_rosbag2_delimiter() {
    let expected_start = format!("\n{}\nMSG: std_msgs/Header\n", "=".repeat(80));
    assert!(JointState::DEFINITION.contains(&expected_start));
    assert_eq!(JointState::DEFINITION.matches("\nMSG: ").count(), 2);
    assert_eq!(Odometry::DEFINITION.matches("\nMSG: ").count(), 9);
}
