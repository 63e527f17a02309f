//! rmw_zenoh's names for the ROS 2 graph: data key expressions, the QoS part and
//! the mangling of liveliness tokens, entity GIDs, and ROS name rules.

use std::fmt::Write as _;

use super::{GID_SIZE, RMW_ZENOH_DEFAULT_DEPTH};
use crate::msg::Message;
use crate::ros_args;
use crate::transport::{Durability, Reliability, TopicQos, TransportError};

/// The data key expression: `<domain>/<topic without leading slash>/<dds type>/<hash>`.
pub fn topic_key_expr<M: Message>(domain_id: u16, topic: &str) -> String {
    format!(
        "{domain_id}/{}/{}/{}",
        topic.trim_matches('/'),
        M::dds_name(),
        M::TYPE_HASH
    )
}

/// rmw_zenoh's name mangling inside liveliness tokens: every `/` becomes `%`.
pub fn mangle(name: &str) -> String {
    name.replace('/', "%")
}

/// Expands `~/x` and relative names the ROS 2 way (rcl's rules, as for DDS).
pub fn resolve_topic(topic: &str, namespace: &str, node: &str) -> Result<String, TransportError> {
    ros_args::resolve_topic(topic, namespace, node, &[]).map_err(|error| {
        TransportError::InvalidName {
            name: error.name,
            reason: error.reason.to_string(),
        }
    })
}

/// The QoS part of a liveliness token, as rmw_zenoh's `qos_to_keyexpr` writes it:
/// `reliability:durability:history,depth:deadline s,ns:lifespan s,ns:liveliness,lease s,ns`
/// where every value equal to rmw_zenoh's default (reliable, volatile, keep last,
/// depth 42, infinite durations, automatic liveliness) is left empty.
pub fn qos_to_keyexpr(qos: &TopicQos) -> String {
    // rmw enum values: RELIABILITY_BEST_EFFORT = 2, DURABILITY_TRANSIENT_LOCAL = 1.
    let reliability = match qos.reliability {
        Reliability::Reliable => "",
        Reliability::BestEffort => "2",
    };
    let durability = match qos.durability {
        Durability::Volatile => "",
        Durability::TransientLocal => "1",
    };
    let mut depth = String::new();
    // Depth 0 means "implementation default" and becomes 42 in rmw_zenoh.
    if qos.depth != 0 && qos.depth != RMW_ZENOH_DEFAULT_DEPTH {
        let _ = write!(depth, "{}", qos.depth);
    }
    format!("{reliability}:{durability}:,{depth}:,:,:,,")
}

/// The entity GID rmw_zenoh derives from a liveliness key: XXH3-128 of the key,
/// low 64 bits then high 64 bits, each little endian.
pub fn gid_of(liveliness_key: &str) -> [u8; GID_SIZE] {
    xxhash_rust::xxh3::xxh3_128(liveliness_key.as_bytes()).to_le_bytes()
}

/// A node name and namespace as ROS 2 accepts them (the rules `--ros-args` uses).
pub(super) fn validate_node_name(name: &str, namespace: &str) -> Result<(), TransportError> {
    ros_args::validate_node_name(name)
        .and_then(|()| ros_args::validate_full_name(namespace))
        .map_err(|reason| TransportError::InvalidName {
            name: format!("{namespace} {name}"),
            reason: reason.into(),
        })
}
