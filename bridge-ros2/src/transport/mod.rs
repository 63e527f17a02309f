//! The transports that carry ROS 2 messages: DDS (RustDDS through ros2-client) and
//! zenoh (rmw_zenoh's key expressions). [`Transport`] is what the node uses; it
//! forwards to whichever was chosen with `--transport`.

pub mod dds;

pub use dds::{Durability, Received, Reliability, TopicQos, TransportError};

use crate::msg::Message;

/// `--transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// DDS (RustDDS), interoperable with rmw_fastrtps / rmw_cyclonedds.
    Dds,
    /// zenoh, with rmw_zenoh's key expressions and payloads.
    Zenoh,
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
    /// zenoh endpoints to connect to (empty: the rmw_zenoh router default).
    pub zenoh_connect: Vec<String>,
    /// zenoh endpoints to listen on.
    pub zenoh_listen: Vec<String>,
    /// Keep discovery on loopback whatever the environment says (local benches).
    pub loopback_only: bool,
}

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
        }
    }
}

/// An open transport: one ROS 2 node.
pub enum Transport {
    /// DDS.
    Dds(dds::DdsNode),
}

/// A publisher on either transport.
pub enum Publisher<M: Message> {
    /// DDS.
    Dds(dds::DdsPublisher<M>),
}

/// A subscription on either transport; dropping it stops delivery.
pub enum Subscription {
    /// DDS.
    Dds(dds::Subscription),
}

impl Transport {
    /// Opens the transport (DDS: domain and discovery range from `ROS_DOMAIN_ID` and
    /// `ROS_AUTOMATIC_DISCOVERY_RANGE`).
    pub fn open(options: &TransportOptions) -> Result<Transport, TransportError> {
        match options.kind {
            TransportKind::Dds => {
                let mut node_options =
                    dds::NodeOptions::from_env(&options.node_name, &options.namespace)?;
                if options.loopback_only {
                    node_options.discovery = dds::Discovery::Localhost;
                }
                Ok(Transport::Dds(dds::DdsNode::new(&node_options)?))
            }
            TransportKind::Zenoh => Err(TransportError::Environment {
                variable: "--transport",
                value: "zenoh".into(),
                expected: "dds (zenoh is not built into this binary yet)",
            }),
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
        }
    }
}
