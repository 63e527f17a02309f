//! The QoS a channel's publisher offers, in rosbag2's `offered_qos_profiles` form.

use std::fmt::Write as _;

/// The MCAP channel metadata key rosbag2 stores the offered QoS under.
pub const OFFERED_QOS_PROFILES_KEY: &str = "offered_qos_profiles";

/// The QoS policies of a publisher that matter for playback compatibility.
///
/// Deadline, lifespan and liveliness lease are always written as infinite and
/// liveliness as `automatic`: Augur's publishers use the ROS 2 defaults for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelQos {
    /// `reliable` if true, else `best_effort`.
    pub reliable: bool,
    /// `transient_local` (latched) if true, else `volatile`.
    pub transient_local: bool,
    /// History depth (`keep_last`); 0 means `keep_all`.
    pub depth: u32,
}

/// `RMW_DURATION_INFINITE` as rosbag2 serialises it (`sec`, `nsec`).
const INFINITE: (u64, u64) = (9_223_372_036, 854_775_807);

impl ChannelQos {
    /// Reliable, volatile, keep last `depth`: the ROS 2 default profile with that depth.
    pub const fn reliable(depth: u32) -> Self {
        Self {
            reliable: true,
            transient_local: false,
            depth,
        }
    }

    /// Best effort, volatile, keep last `depth`: the sensor-data profile.
    pub const fn best_effort(depth: u32) -> Self {
        Self {
            reliable: false,
            transient_local: false,
            depth,
        }
    }

    /// The same profile, transient local (latched).
    pub const fn transient_local(self) -> Self {
        Self {
            transient_local: true,
            ..self
        }
    }

    /// The one-profile YAML sequence rosbag2 (metadata version 9, Jazzy and later)
    /// writes into the channel metadata under [`OFFERED_QOS_PROFILES_KEY`]: the text
    /// yaml-cpp's `YAML::Dump` makes of `convert<std::vector<rclcpp::QoS>>`.
    pub fn to_rosbag2_yaml(&self) -> String {
        let history = if self.depth == 0 {
            "keep_all"
        } else {
            "keep_last"
        };
        let reliability = if self.reliable {
            "reliable"
        } else {
            "best_effort"
        };
        let durability = if self.transient_local {
            "transient_local"
        } else {
            "volatile"
        };
        let (sec, nsec) = INFINITE;
        let mut yaml = String::with_capacity(400);
        // Writing to a String cannot fail.
        let _ = write!(
            yaml,
            "- history: {history}\n  depth: {depth}\n  reliability: {reliability}\n  \
             durability: {durability}\n  deadline:\n    sec: {sec}\n    nsec: {nsec}\n  \
             lifespan:\n    sec: {sec}\n    nsec: {nsec}\n  liveliness: automatic\n  \
             liveliness_lease_duration:\n    sec: {sec}\n    nsec: {nsec}\n  \
             avoid_ros_namespace_conventions: false",
            depth = self.depth,
        );
        yaml
    }

    /// Reads the first profile of an `offered_qos_profiles` YAML sequence, in either
    /// rosbag2's version-9 form (policy names) or the older form (policy numbers).
    /// `None` if the text has no recognisable reliability or durability.
    pub fn from_rosbag2_yaml(yaml: &str) -> Option<Self> {
        let mut history = None;
        let mut depth = None;
        let mut reliability = None;
        let mut durability = None;
        for (i, line) in yaml.lines().enumerate() {
            // A second sequence item starts the next profile: only the first is read.
            if i > 0 && line.starts_with('-') {
                break;
            }
            let line = line.trim_start_matches('-').trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "history" => history = Some(value),
                "depth" => depth = value.parse::<u32>().ok(),
                "reliability" => reliability = Some(value),
                "durability" => durability = Some(value),
                _ => {}
            }
        }
        // Numbers are rmw's enum values: reliability 1 reliable, 2 best effort;
        // durability 1 transient local, 2 volatile; history 2 keep all.
        let reliable = match reliability? {
            "reliable" | "1" => true,
            "best_effort" | "2" => false,
            _ => return None,
        };
        let transient_local = match durability? {
            "transient_local" | "1" => true,
            "volatile" | "2" => false,
            _ => return None,
        };
        let keep_all = matches!(history, Some("keep_all" | "2"));
        Some(Self {
            reliable,
            transient_local,
            depth: if keep_all { 0 } else { depth.unwrap_or(0) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_rosbag2_version_9_text() {
        let yaml = ChannelQos::reliable(10).to_rosbag2_yaml();
        assert_eq!(
            yaml,
            "- history: keep_last\n  depth: 10\n  reliability: reliable\n  durability: volatile\n  \
             deadline:\n    sec: 9223372036\n    nsec: 854775807\n  lifespan:\n    sec: 9223372036\n    \
             nsec: 854775807\n  liveliness: automatic\n  liveliness_lease_duration:\n    sec: 9223372036\n    \
             nsec: 854775807\n  avoid_ros_namespace_conventions: false"
        );
    }

    #[test]
    fn yaml_round_trips_every_policy() {
        for qos in [
            ChannelQos::reliable(10),
            ChannelQos::best_effort(5),
            ChannelQos::reliable(1).transient_local(),
            ChannelQos::best_effort(0),
        ] {
            assert_eq!(
                ChannelQos::from_rosbag2_yaml(&qos.to_rosbag2_yaml()),
                Some(qos)
            );
        }
    }

    #[test]
    fn older_numeric_profiles_are_read() {
        let yaml = "- history: 3\n  depth: 0\n  reliability: 2\n  durability: 1\n  deadline:\n    sec: 0\n";
        assert_eq!(
            ChannelQos::from_rosbag2_yaml(yaml),
            Some(ChannelQos::best_effort(0).transient_local())
        );
        assert_eq!(ChannelQos::from_rosbag2_yaml("nonsense"), None);
    }
}
