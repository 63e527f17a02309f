//! The transports that carry ROS 2 messages: DDS (RustDDS through ros2-client) and
//! zenoh (rmw_zenoh's key expressions). [`Transport`] is what the node uses; it
//! forwards to whichever was chosen with `--transport`.

pub mod cdr;
pub mod dds;
pub mod zenoh;

use std::time::{Instant, SystemTime};

use crate::msg::Message;

/// Delivery guarantee of a topic, as in ROS 2 QoS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    BestEffort,
    Reliable,
}

/// Whether late joiners get old samples, as in ROS 2 QoS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Volatile,
    /// Late-joining subscribers get the last `depth` samples.
    TransientLocal,
}

/// The QoS of one publisher or subscription (history is always keep-last `depth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicQos {
    pub reliability: Reliability,
    pub durability: Durability,
    pub depth: usize,
}

impl TopicQos {
    /// rclpy's `qos_profile_sensor_data`: best effort, volatile, depth 5.
    pub const SENSOR_DATA: TopicQos = TopicQos {
        reliability: Reliability::BestEffort,
        durability: Durability::Volatile,
        depth: 5,
    };
    /// rclpy's default profile: reliable, volatile, depth 10. For actuator commands.
    pub const COMMANDS: TopicQos = TopicQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        depth: 10,
    };
    /// `/diagnostics`: the default profile, as diagnostic_updater and its aggregator
    /// use.
    pub const DIAGNOSTICS: TopicQos = TopicQos::COMMANDS;
    /// rclpy's default profile (reliable, volatile, depth 10).
    pub const DEFAULT: TopicQos = TopicQos::COMMANDS;
    /// `/clock` as rclpy's time source subscribes: best effort, depth 1.
    pub const CLOCK: TopicQos = TopicQos {
        reliability: Reliability::BestEffort,
        durability: Durability::Volatile,
        depth: 1,
    };
    /// Latched topics (last value kept for late joiners): reliable, transient local,
    /// depth 1.
    pub const LATCHED: TopicQos = TopicQos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        depth: 1,
    };
}

/// When and how a message arrived.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// The publisher's source timestamp, if it sent one (DDS: the sample's source
    /// timestamp; zenoh: the rmw_zenoh attachment).
    pub source_timestamp: Option<SystemTime>,
    /// When this process took the message from the transport.
    pub received_at: Instant,
}

/// Errors of either transport; each names the topic, endpoint or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("environment variable {variable}={value:?} is invalid: expected {expected}")]
    Environment {
        variable: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid ROS 2 name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("DDS Security: {reason}")]
    Security { reason: String },
    #[error("could not start the DDS participant on domain {domain_id}: {reason}")]
    Participant { domain_id: u16, reason: String },
    #[error("could not create the ROS 2 node {name:?}: {reason}")]
    Node { name: String, reason: String },
    #[error("could not create the DDS {entity} for {topic}: {reason}")]
    Create {
        entity: &'static str,
        topic: String,
        reason: String,
    },
    #[error("invalid zenoh endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("zenoh config `{key}`: {reason}")]
    Config { key: String, reason: String },
    #[error("opening the zenoh session failed: {reason}")]
    Session { reason: String },
    #[error("topic `{topic}`: {what} is not supported by the zenoh transport")]
    Unsupported { topic: String, what: &'static str },
    #[error("declaring `{key_expr}` on zenoh failed: {reason}")]
    Declare { key_expr: String, reason: String },
    #[error("encoding {type_name} for `{topic}` failed: {source}")]
    Encode {
        topic: String,
        type_name: String,
        source: cdr::CdrError,
    },
    #[error("could not publish on {topic}: {reason}")]
    Publish { topic: String, reason: String },
    #[error("could not decode a message on {topic}: {reason}")]
    Decode { topic: String, reason: String },
    #[error("could not read from {topic}: {reason}")]
    Read { topic: String, reason: String },
}

/// `--transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// DDS (RustDDS), interoperable with rmw_fastrtps / rmw_cyclonedds.
    Dds,
    /// zenoh, with rmw_zenoh's key expressions and payloads.
    Zenoh,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Dds => "DDS",
            TransportKind::Zenoh => "zenoh",
        })
    }
}

/// How to open a transport.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Which transport.
    pub kind: TransportKind,
    /// Node name.
    pub node_name: String,
    /// Node namespace.
    pub namespace: String,
    /// zenoh endpoints to connect to (empty, and no `zenoh_listen`: the rmw_zenoh
    /// router's default endpoint).
    pub zenoh_connect: Vec<String>,
    /// zenoh endpoints to listen on.
    pub zenoh_listen: Vec<String>,
    /// Keep discovery on loopback whatever the environment says (local benches).
    pub loopback_only: bool,
    /// zenoh configuration file (TLS, access control), the `zenoh.config` parameter.
    pub zenoh_config: Option<std::path::PathBuf>,
    /// Largest sensor message accepted, the `max_message_bytes` parameter.
    pub max_message_bytes: usize,
    /// DDS Security enclave (`--enclave`), used with `ROS_SECURITY_ENABLE=true`.
    pub enclave: Option<String>,
}

/// Default of the `max_message_bytes` parameter: a 1280x720 rgb8 frame is 2.7 MB, a
/// state message a few hundred bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;

impl TransportOptions {
    /// A node named `node_name` in `/`, with default endpoints.
    pub fn local(kind: TransportKind, node_name: &str) -> TransportOptions {
        TransportOptions {
            kind,
            node_name: node_name.into(),
            namespace: "/".into(),
            zenoh_connect: Vec::new(),
            zenoh_listen: Vec::new(),
            loopback_only: true,
            zenoh_config: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            enclave: None,
        }
    }
}

/// An open transport: one ROS 2 node.
pub enum Transport {
    /// DDS.
    Dds(dds::DdsNode),
    /// zenoh.
    Zenoh(zenoh::ZenohNode),
}

/// A publisher on either transport.
pub enum Publisher<M: Message> {
    /// DDS.
    Dds(dds::DdsPublisher<M>),
    /// zenoh.
    Zenoh(zenoh::ZenohPublisher<M>),
}

/// A subscription on either transport; dropping it stops delivery.
pub enum Subscription {
    /// DDS.
    Dds(dds::Subscription),
    /// zenoh.
    Zenoh(zenoh::Subscription),
}

impl Transport {
    /// Opens the transport (DDS: domain and discovery range from `ROS_DOMAIN_ID` and
    /// `ROS_AUTOMATIC_DISCOVERY_RANGE`).
    pub fn open(options: &TransportOptions) -> Result<Transport, TransportError> {
        match options.kind {
            TransportKind::Dds => {
                let mut node_options = dds::NodeOptions::from_env_with_enclave(
                    &options.node_name,
                    &options.namespace,
                    options.enclave.as_deref(),
                )?;
                if options.loopback_only {
                    node_options.discovery = dds::Discovery::Localhost;
                }
                Ok(Transport::Dds(dds::DdsNode::new(&node_options)?))
            }
            TransportKind::Zenoh => {
                let domain_id =
                    dds::NodeOptions::from_env(&options.node_name, &options.namespace)?.domain_id;
                let defaults = zenoh::ZenohOptions::default();
                let zenoh_options = zenoh::ZenohOptions {
                    name: options.node_name.clone(),
                    namespace: options.namespace.clone(),
                    domain_id,
                    // Neither given: connect to the rmw_zenoh router, as ROS 2 nodes do.
                    connect: if options.zenoh_connect.is_empty() && options.zenoh_listen.is_empty()
                    {
                        defaults.connect
                    } else {
                        zenoh::parse_endpoint_lists(&options.zenoh_connect)?
                    },
                    listen: zenoh::parse_endpoint_lists(&options.zenoh_listen)?,
                    multicast_scouting: false,
                    config_file: options.zenoh_config.clone(),
                    max_message_bytes: options.max_message_bytes,
                };
                if options.loopback_only {
                    zenoh::require_loopback(&zenoh_options)?;
                }
                Ok(Transport::Zenoh(zenoh::ZenohNode::new(&zenoh_options)?))
            }
        }
    }

    /// A publisher on a fully qualified topic.
    pub fn publisher<M: Message>(
        &self,
        topic: &str,
        qos: &TopicQos,
    ) -> Result<Publisher<M>, TransportError> {
        match self {
            Transport::Dds(node) => node.publisher(topic, qos).map(Publisher::Dds),
            Transport::Zenoh(node) => node.publisher(topic, qos).map(Publisher::Zenoh),
        }
    }

    /// Subscribes to a fully qualified topic; `on_message` runs on a transport thread.
    pub fn subscribe<M, F>(
        &self,
        topic: &str,
        qos: &TopicQos,
        on_message: F,
    ) -> Result<Subscription, TransportError>
    where
        M: Message,
        F: FnMut(Result<M, TransportError>, Received) + Send + 'static,
    {
        match self {
            Transport::Dds(node) => node
                .subscribe(topic, qos, on_message)
                .map(Subscription::Dds),
            Transport::Zenoh(node) => node
                .subscribe(topic, qos, on_message)
                .map(Subscription::Zenoh),
        }
    }

    /// [`Transport::subscribe`] for large messages (camera frames): over DDS the
    /// reader's cache is bounded to `qos.depth` samples (docs/benchmarks.md,
    /// "Cameras"); over zenoh it is the same as `subscribe`.
    pub fn subscribe_bounded<M, F>(
        &self,
        topic: &str,
        qos: &TopicQos,
        on_message: F,
    ) -> Result<Subscription, TransportError>
    where
        M: Message,
        F: FnMut(Result<M, TransportError>, Received) + Send + 'static,
    {
        match self {
            Transport::Dds(node) => node
                .subscribe_bounded(topic, qos, on_message)
                .map(Subscription::Dds),
            Transport::Zenoh(node) => node
                .subscribe(topic, qos, on_message)
                .map(Subscription::Zenoh),
        }
    }
}

impl<M: Message> Publisher<M> {
    /// Publishes one message.
    pub fn publish(&self, message: &M) -> Result<(), TransportError>
    where
        M: Clone,
    {
        match self {
            Publisher::Dds(publisher) => publisher.publish(message),
            Publisher::Zenoh(publisher) => publisher.publish(message),
        }
    }
}
