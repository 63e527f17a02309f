//! ROS 2 over DDS: a RustDDS participant wrapped by ros2-client, so the node shows up in
//! `ros2 node list` and talks to rclpy/rclcpp over Fast DDS or Cyclone DDS.
//!
//! Network scope. `ros2-client`'s `Context::new()` ignores `ROS_DOMAIN_ID`, so the
//! participant is built here. With [`Discovery::Localhost`] it is built with
//! `with_only_networks([127.0.0.1])`; reading RustDDS 0.15 shows what that confines:
//! - multicast: sender and listener sockets are opened only on interfaces that carry
//!   an allowed IP and the `MULTICAST` flag. Linux's `lo` has no `MULTICAST` flag, so
//!   the participant opens no multicast socket at all and a multicast locator (SPDP's
//!   239.255.0.1) fans out over zero sockets: nothing is sent.
//! - unicast locators advertised in SPDP/SEDP are filtered to 127.0.0.1.
//! - discovery then runs through the "same-host loopback" SPDP announcements RustDDS
//!   sends to `127.0.0.1:<well-known SPDP ports>`, which Fast DDS in
//!   `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` mode also listens on.
//! - it is not a socket-level ACL: the unicast socket binds 0.0.0.0 and sends to the
//!   locators discovered peers advertise. Since only peers reachable over loopback
//!   can be discovered, and localhost-mode peers advertise 127.0.0.1, traffic stays
//!   on loopback.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::Mutex,
    thread::JoinHandle,
    time::{Instant, SystemTime},
};

use futures::{channel::oneshot, FutureExt, StreamExt};
use ros2_client::{
    dds::{rustdds::DomainParticipantBuilder, Context, Node, Publisher, Spinner},
    qos, MessageTypeName, Name, NodeName, QosProfile,
};

use super::{Durability, Received, Reliability, TopicQos, TransportError};
use crate::msg::Message;

/// Where DDS discovery may look for peers (`ROS_AUTOMATIC_DISCOVERY_RANGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// This machine only: every packet stays on 127.0.0.1.
    Localhost,
    /// The local subnet (multicast on every interface): ROS 2's default.
    Subnet,
}

/// Which ROS 2 graph the node joins and under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    pub name: String,
    pub namespace: String,
    pub domain_id: u16,
    pub discovery: Discovery,
    /// DDS Security: the enclave directory whose credentials the participant uses
    /// (`None`: no security, as in ROS 2 by default).
    pub security: Option<PathBuf>,
}

/// The files of an SROS2 enclave that DDS Security reads (rmw_dds_common's names).
pub const ENCLAVE_FILES: [&str; 6] = [
    "identity_ca.cert.pem",
    "cert.pem",
    "key.pem",
    "permissions_ca.cert.pem",
    "governance.p7s",
    "permissions.p7s",
];

/// ROS 2's security environment: `ROS_SECURITY_ENABLE=true` turns it on,
/// `ROS_SECURITY_KEYSTORE` is the keystore, the enclave is
/// `ROS_SECURITY_ENCLAVE_OVERRIDE` or the `--enclave` argument (default `/`), and
/// `ROS_SECURITY_STRATEGY` says what a missing enclave does: `Enforce` refuses to
/// start, `Permissive` (the default) warns and runs without security. Returns the
/// enclave directory to use.
pub fn security_from_vars(
    enable: Option<&str>,
    strategy: Option<&str>,
    keystore: Option<&str>,
    enclave: Option<&str>,
) -> Result<Option<PathBuf>, TransportError> {
    if enable.map(str::trim) != Some("true") {
        return Ok(None);
    }
    let enforce = match strategy.map(str::trim) {
        None | Some("Permissive") => false,
        Some("Enforce") => true,
        Some(other) => {
            return Err(TransportError::Environment {
                variable: "ROS_SECURITY_STRATEGY",
                value: other.to_owned(),
                expected: "Enforce or Permissive",
            })
        }
    };
    let enclave = enclave
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("/");
    let problem = match keystore.map(str::trim).filter(|k| !k.is_empty()) {
        None => Err("ROS_SECURITY_ENABLE=true but ROS_SECURITY_KEYSTORE is not set".to_string()),
        Some(keystore) => {
            let dir = Path::new(keystore)
                .join("enclaves")
                .join(enclave.trim_start_matches('/'));
            let missing: Vec<&str> = ENCLAVE_FILES
                .iter()
                .copied()
                .filter(|f| !dir.join(f).is_file())
                .collect();
            if missing.is_empty() {
                Ok(dir)
            } else {
                Err(format!(
                    "enclave `{enclave}` ({}) lacks {}",
                    dir.display(),
                    missing.join(", ")
                ))
            }
        }
    };
    match problem {
        Ok(dir) => Ok(Some(dir)),
        Err(reason) if enforce => Err(TransportError::Security { reason }),
        Err(reason) => {
            tracing::warn!(
                "{reason}: running without DDS Security (ROS_SECURITY_STRATEGY=Permissive)"
            );
            Ok(None)
        }
    }
}

/// `ROS_DOMAIN_ID` values ROS 2 accepts on Linux (the DDS port formula limit).
const MAX_DOMAIN_ID: u16 = 232;

impl NodeOptions {
    /// Reads `ROS_DOMAIN_ID` (default 0), `ROS_AUTOMATIC_DISCOVERY_RANGE`
    /// (`LOCALHOST`, `SUBNET`, `OFF`, `SYSTEM_DEFAULT`; default subnet) and the legacy
    /// `ROS_LOCALHOST_ONLY=1`.
    pub fn from_env(name: &str, namespace: &str) -> Result<NodeOptions, TransportError> {
        Self::from_env_with_enclave(name, namespace, None)
    }

    /// [`NodeOptions::from_env`], with the ROS 2 security variables and the
    /// `--enclave` argument (overridden by `ROS_SECURITY_ENCLAVE_OVERRIDE`).
    pub fn from_env_with_enclave(
        name: &str,
        namespace: &str,
        enclave: Option<&str>,
    ) -> Result<NodeOptions, TransportError> {
        let var = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        let mut options = Self::from_vars(
            name,
            namespace,
            var("ROS_DOMAIN_ID").as_deref(),
            var("ROS_AUTOMATIC_DISCOVERY_RANGE").as_deref(),
            var("ROS_LOCALHOST_ONLY").as_deref(),
        )?;
        let enclave_override = var("ROS_SECURITY_ENCLAVE_OVERRIDE");
        options.security = security_from_vars(
            var("ROS_SECURITY_ENABLE").as_deref(),
            var("ROS_SECURITY_STRATEGY").as_deref(),
            var("ROS_SECURITY_KEYSTORE").as_deref(),
            enclave_override.as_deref().or(enclave),
        )?;
        Ok(options)
    }

    fn from_vars(
        name: &str,
        namespace: &str,
        domain_id: Option<&str>,
        discovery_range: Option<&str>,
        localhost_only: Option<&str>,
    ) -> Result<NodeOptions, TransportError> {
        let domain_id = match domain_id {
            None => 0,
            Some(text) => text
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|id| *id <= MAX_DOMAIN_ID)
                .ok_or_else(|| TransportError::Environment {
                    variable: "ROS_DOMAIN_ID",
                    value: text.to_owned(),
                    expected: "an integer from 0 to 232",
                })?,
        };
        let legacy_localhost = match localhost_only.map(str::trim) {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(TransportError::Environment {
                    variable: "ROS_LOCALHOST_ONLY",
                    value: other.to_owned(),
                    expected: "0 or 1",
                })
            }
        };
        let discovery = match discovery_range.map(str::trim) {
            // ROS 2 (Jazzy) gives ROS_LOCALHOST_ONLY precedence only when the range
            // is unset.
            None if legacy_localhost => Discovery::Localhost,
            None | Some("SUBNET") | Some("SYSTEM_DEFAULT") => Discovery::Subnet,
            Some("LOCALHOST") => Discovery::Localhost,
            Some("OFF") => {
                // RustDDS cannot turn discovery off; the closest safe choice is to stay
                // on this machine rather than to widen the scope.
                Discovery::Localhost
            }
            Some(other) => {
                return Err(TransportError::Environment {
                    variable: "ROS_AUTOMATIC_DISCOVERY_RANGE",
                    value: other.to_owned(),
                    expected: "LOCALHOST, SUBNET, OFF or SYSTEM_DEFAULT",
                })
            }
        };
        Ok(NodeOptions {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            domain_id,
            discovery,
            security: None,
        })
    }
}

/// Adds RustDDS's built-in security plugins with the enclave's credentials. The
/// key must be unencrypted: RustDDS reads no key password.
#[cfg(feature = "dds-security")]
fn with_security(
    builder: DomainParticipantBuilder,
    enclave: &Path,
) -> Result<DomainParticipantBuilder, TransportError> {
    use ros2_client::dds::rustdds::DomainParticipantSecurityConfigFiles;
    Ok(builder.builtin_security(
        DomainParticipantSecurityConfigFiles::with_ros_default_names(enclave, String::new()),
    ))
}

#[cfg(not(feature = "dds-security"))]
fn with_security(
    _builder: DomainParticipantBuilder,
    enclave: &Path,
) -> Result<DomainParticipantBuilder, TransportError> {
    Err(TransportError::Security {
        reason: format!(
            "enclave {} asked for, but this augur was built without the `dds-security` feature",
            enclave.display()
        ),
    })
}

/// The ros2-client QoS profile for `topic`.
fn qos_profile(topic: TopicQos) -> QosProfile {
    let reliability = match topic.reliability {
        Reliability::BestEffort => qos::Reliability::BestEffort,
        Reliability::Reliable => qos::Reliability::Reliable {
            when_full: qos::WhenFull::DEFAULT,
        },
    };
    let durability = match topic.durability {
        Durability::Volatile => qos::Durability::Volatile,
        Durability::TransientLocal => qos::Durability::TransientLocal,
    };
    QosProfile::publisher_default()
        .reliability(reliability)
        .durability(durability)
        .history(qos::History::KeepLast {
            depth: topic.depth.max(1),
        })
}

/// A ROS 2 node on DDS. Dropping it stops the background spinner.
pub struct DdsNode {
    // Behind a mutex because ros2-client needs `&mut Node` to create entities; an
    // `Option` so `Drop` can drop it before joining the spinner.
    node: Mutex<Option<Node>>,
    spinner: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    name: String,
    // Last: keeps the participant until the node (whose own parameter-events writer
    // drops after its context clone) and the spinner are gone. RustDDS logs an error
    // for every writer or reader dropped after its participant.
    _context: Context,
}

impl DdsNode {
    /// Starts the participant on `options.domain_id` (loopback only for
    /// [`Discovery::Localhost`]), creates the node and spins its background task.
    pub fn new(options: &NodeOptions) -> Result<DdsNode, TransportError> {
        let mut builder = DomainParticipantBuilder::new(options.domain_id);
        if options.discovery == Discovery::Localhost {
            builder = builder.with_only_networks([Ipv4Addr::LOCALHOST]);
        }
        if let Some(enclave) = &options.security {
            builder = with_security(builder, enclave)?;
        }
        let participant_error = |reason: String| TransportError::Participant {
            domain_id: options.domain_id,
            reason,
        };
        let participant = builder
            .build()
            .map_err(|e| participant_error(e.to_string()))?;
        let context = Context::from_domain_participant(participant)
            .map_err(|e| participant_error(e.to_string()))?;
        let node_name = NodeName::new(&options.namespace, &options.name).map_err(|e| {
            TransportError::InvalidName {
                name: format!("{}/{}", options.namespace, options.name),
                reason: format!("{e:?}"),
            }
        })?;
        let full_name = node_name.fully_qualified_name();
        let node_error = |reason: String| TransportError::Node {
            name: full_name.clone(),
            reason,
        };
        let mut node = context
            .new_node(
                node_name,
                ros2_client::NodeOptions::new().enable_rosout(false),
            )
            .map_err(|e| node_error(format!("{e:?}")))?;
        let spinner = node.spinner().map_err(|e| node_error(e.to_string()))?;
        let spinner = spawn_spinner(spinner, &full_name).map_err(|e| node_error(e.to_string()))?;
        Ok(DdsNode {
            node: Mutex::new(Some(node)),
            spinner: Some(spinner),
            name: full_name,
            _context: context,
        })
    }

    /// The node's fully qualified name, e.g. `/augur`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A publisher on a fully qualified topic, e.g. `/effort_controller/commands`.
    pub fn publisher<M: Message>(
        &self,
        topic: &str,
        qos: &TopicQos,
    ) -> Result<DdsPublisher<M>, TransportError> {
        let mut node = self.lock_node();
        let node = node
            .as_mut()
            .ok_or_else(|| shutting_down("publisher", topic))?;
        let dds_topic = create_topic::<M>(node, topic, qos, "publisher")?;
        let publisher = node
            .create_publisher::<M>(&dds_topic, Some(qos_profile(*qos)))
            .map_err(|e| TransportError::Create {
                entity: "publisher",
                topic: topic.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(DdsPublisher {
            publisher,
            topic: topic.to_owned(),
        })
    }

    /// Subscribes to a fully qualified topic. `on_message` runs on a background
    /// thread for every sample; one that fails to decode arrives as `Err`. Dropping
    /// the returned [`Subscription`] stops delivery and joins the thread.
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
        let create_error = |reason: String| TransportError::Create {
            entity: "subscription",
            topic: topic.to_owned(),
            reason,
        };
        let reader = {
            let mut node = self.lock_node();
            let node = node
                .as_mut()
                .ok_or_else(|| shutting_down("subscription", topic))?;
            let dds_topic = create_topic::<M>(node, topic, qos, "subscription")?;
            node.create_subscription::<M>(&dds_topic, Some(qos_profile(*qos)))
                .map_err(|e| create_error(e.to_string()))?
        };
        deliver(
            topic,
            (reader, topic.to_owned()),
            |(reader, topic)| {
                reader
                    .async_stream()
                    .map(|sample| match sample {
                        Ok((message, info)) => (
                            Ok(message),
                            info.source_timestamp().and_then(ros_time_to_system_time),
                        ),
                        Err(error) => (Err(read_error(topic, error)), None),
                    })
                    .boxed_local()
            },
            on_message,
        )
        .map_err(|e| create_error(e.to_string()))
    }

    /// [`DdsNode::subscribe`] for large messages (camera frames): the topic and its
    /// reader are created on the participant directly, with resource limits of
    /// `qos.depth` samples. Through ros2-client (whose `QosProfile` has no resource
    /// limits) RustDDS's topic cache keeps 64 samples whatever the history depth: 48 MB
    /// of 500x500 rgb8 frames, 177 MB of 1280x720. The reader is not listed in the
    /// node's ROS graph entry (`ros2 node info`); DDS discovery, which rclpy's
    /// publisher and subscriber counts use, sees it as any other.
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
        use ros2_client::dds::rustdds::{
            policy, CDRDeserializerAdapter, QosPolicies, QosPolicyBuilder, TopicKind,
        };
        let create_error = |reason: String| TransportError::Create {
            entity: "subscription",
            topic: topic.to_owned(),
            reason,
        };
        if !topic.starts_with('/') {
            return Err(create_error("the topic is not fully qualified".into()));
        }
        let depth = i32::try_from(qos.depth.max(1)).unwrap_or(i32::MAX);
        let limits = QosPolicyBuilder::new()
            .resource_limits(policy::ResourceLimits {
                max_samples: depth,
                max_instances: 1,
                max_samples_per_instance: depth,
            })
            .build();
        let dds_qos = QosPolicies::from(&qos_profile(*qos)).modify_by(&limits);
        let participant = self._context.domain_participant();
        let type_name = MessageTypeName::new(M::PACKAGE, M::NAME).dds_msg_type();
        let dds_topic = participant
            .create_topic(format!("rt{topic}"), type_name, &dds_qos, TopicKind::NoKey)
            .map_err(|e| create_error(e.to_string()))?;
        let reader = participant
            .create_subscriber(&dds_qos)
            .and_then(|subscriber| {
                subscriber.create_simple_datareader_no_key::<M, CDRDeserializerAdapter<M>>(
                    &dds_topic,
                    Some(dds_qos.clone()),
                )
            })
            .map_err(|e| create_error(e.to_string()))?;
        deliver(
            topic,
            (reader, topic.to_owned()),
            |(reader, topic)| {
                reader
                    .as_async_stream()
                    .map(|sample| match sample {
                        Ok(change) => {
                            let source_timestamp = change
                                .source_timestamp()
                                .and_then(|t| ros2_client::ROSTime::try_from(t).ok())
                                .and_then(ros_time_to_system_time);
                            (Ok(change.into_value()), source_timestamp)
                        }
                        Err(error) => (
                            Err(TransportError::Read {
                                topic: topic.clone(),
                                reason: format!("{error:?}"),
                            }),
                            None,
                        ),
                    })
                    .boxed_local()
            },
            on_message,
        )
        .map_err(|e| create_error(e.to_string()))
    }

    fn lock_node(&self) -> std::sync::MutexGuard<'_, Option<Node>> {
        // A panic while holding this lock can only come from ros2-client itself; the
        // node is still usable for creating entities afterwards.
        self.node
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One sample as a subscription hands it on: the message (or why it did not decode)
/// and its source time.
type Delivered<M> = (Result<M, TransportError>, Option<SystemTime>);

/// Runs a subscription's delivery thread: `samples` turns the reader (owned by the
/// thread, with the topic name) into a stream of [`Delivered`] samples, each handed to
/// `on_message` with its arrival time, until the returned [`Subscription`] is dropped.
fn deliver<R, M, F>(
    topic: &str,
    reader: R,
    samples: for<'r> fn(&'r R) -> futures::stream::LocalBoxStream<'r, Delivered<M>>,
    mut on_message: F,
) -> std::io::Result<Subscription>
where
    R: Send + 'static,
    M: 'static,
    F: FnMut(Result<M, TransportError>, Received) + Send + 'static,
{
    let (stop, mut stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("dds-sub{topic}"))
        .spawn(move || {
            futures::executor::block_on(async move {
                let mut samples = samples(&reader).fuse();
                loop {
                    futures::select! {
                        _ = stopped => break,
                        sample = samples.next() => match sample {
                            None => break,
                            Some((message, source_timestamp)) => on_message(
                                message,
                                Received { source_timestamp, received_at: Instant::now() },
                            ),
                        },
                    }
                }
            });
        })?;
    Ok(Subscription {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Creating an entity on a node that is being dropped.
fn shutting_down(entity: &'static str, topic: &str) -> TransportError {
    TransportError::Create {
        entity,
        topic: topic.to_owned(),
        reason: "the node is shutting down".into(),
    }
}

impl Drop for DdsNode {
    fn drop(&mut self) {
        // The ros2-client node first, while the spinner still runs: its drop is what
        // tells the spinner to stop, and it logs an error when the spinner is gone.
        drop(
            self.node
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
        );
        // Then the spinner; our own stop signal only makes sure the join returns.
        if let Some((stop, thread)) = self.spinner.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        // `_context` drops after this: the participant goes last.
    }
}

/// Publishes `M` on one topic.
pub struct DdsPublisher<M: Message> {
    publisher: Publisher<M>,
    topic: String,
}

impl<M: Message> DdsPublisher<M> {
    /// Serialises and sends one message. Reliable topics may wait up to 100 ms for
    /// room in a slow reader's queue. ros2-client takes the message by value, hence
    /// the clone (one allocation per variable-length field).
    pub fn publish(&self, message: &M) -> Result<(), TransportError>
    where
        M: Clone,
    {
        self.publisher
            .publish(message.clone())
            .map_err(|e| TransportError::Publish {
                topic: self.topic.clone(),
                reason: e.to_string(),
            })
    }

    /// The fully qualified topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// A running subscription; dropping it stops delivery and joins its thread.
pub struct Subscription {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn create_topic<M: Message>(
    node: &Node,
    topic: &str,
    qos: &TopicQos,
    entity: &'static str,
) -> Result<ros2_client::dds::rustdds::Topic, TransportError> {
    let name = Name::parse(topic).map_err(|e| TransportError::InvalidName {
        name: topic.to_owned(),
        reason: format!("{e:?}"),
    })?;
    node.create_topic(
        &name,
        MessageTypeName::new(M::PACKAGE, M::NAME),
        &qos_profile(*qos),
    )
    .map_err(|e| TransportError::Create {
        entity,
        topic: topic.to_owned(),
        reason: e.to_string(),
    })
}

fn spawn_spinner(
    spinner: Spinner,
    node_name: &str,
) -> std::io::Result<(oneshot::Sender<()>, JoinHandle<()>)> {
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("dds-spin{node_name}"))
        .spawn(move || {
            futures::executor::block_on(async move {
                let spin = spinner.spin().fuse();
                futures::pin_mut!(spin);
                let mut stopped = stopped;
                futures::select! {
                    _ = stopped => {},
                    result = spin => {
                        if let Err(error) = result {
                            tracing::error!(%error, "ros2-client spinner stopped");
                        }
                    }
                }
            });
        })?;
    Ok((stop, thread))
}

fn read_error(topic: &str, error: ros2_client::ReadError) -> TransportError {
    match error {
        ros2_client::ReadError::Deserialization { reason } => TransportError::Decode {
            topic: topic.to_owned(),
            reason,
        },
        other => TransportError::Read {
            topic: topic.to_owned(),
            reason: format!("{other:?}"),
        },
    }
}

fn ros_time_to_system_time(time: ros2_client::ROSTime) -> Option<SystemTime> {
    let nanos = u64::try_from(time.to_nanos()).ok()?;
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(
        domain: Option<&str>,
        range: Option<&str>,
        localhost_only: Option<&str>,
    ) -> Result<NodeOptions, TransportError> {
        NodeOptions::from_vars("augur", "/", domain, range, localhost_only)
    }

    #[test]
    fn unset_environment_means_domain_zero_on_the_subnet() {
        let options = options(None, None, None).unwrap();
        assert_eq!(options.domain_id, 0);
        assert_eq!(options.discovery, Discovery::Subnet);
        assert_eq!(options.name, "augur");
        assert_eq!(options.namespace, "/");
    }

    #[test]
    fn discovery_range_values_map_to_discovery() {
        let range = |r| options(Some("7"), Some(r), None).unwrap();
        assert_eq!(range("LOCALHOST").discovery, Discovery::Localhost);
        assert_eq!(range("SUBNET").discovery, Discovery::Subnet);
        assert_eq!(range("SYSTEM_DEFAULT").discovery, Discovery::Subnet);
        assert_eq!(range("OFF").discovery, Discovery::Localhost);
        assert_eq!(range("LOCALHOST").domain_id, 7);
    }

    #[test]
    fn legacy_localhost_only_applies_when_the_range_is_unset() {
        assert_eq!(
            options(None, None, Some("1")).unwrap().discovery,
            Discovery::Localhost
        );
        assert_eq!(
            options(None, Some("SUBNET"), Some("1")).unwrap().discovery,
            Discovery::Subnet
        );
        assert_eq!(
            options(None, None, Some("0")).unwrap().discovery,
            Discovery::Subnet
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (result, variable) in [
            (options(Some("x"), None, None), "ROS_DOMAIN_ID"),
            (options(Some("233"), None, None), "ROS_DOMAIN_ID"),
            (
                options(None, Some("localhost"), None),
                "ROS_AUTOMATIC_DISCOVERY_RANGE",
            ),
            (options(None, None, Some("yes")), "ROS_LOCALHOST_ONLY"),
        ] {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(variable), "{message}");
        }
    }

    #[test]
    fn sensor_profile_matches_rclpy() {
        assert_eq!(TopicQos::SENSOR_DATA.reliability, Reliability::BestEffort);
        assert_eq!(TopicQos::SENSOR_DATA.depth, 5);
        assert_eq!(TopicQos::COMMANDS.reliability, Reliability::Reliable);
        assert_eq!(TopicQos::COMMANDS.depth, 10);
    }

    #[test]
    fn ros_security_variables_pick_the_enclave_or_refuse_by_strategy() {
        assert_eq!(security_from_vars(None, None, None, None).unwrap(), None);
        assert_eq!(
            security_from_vars(Some("false"), Some("Enforce"), None, None).unwrap(),
            None
        );
        // Enabled without a keystore: Enforce refuses, Permissive runs without.
        let error = security_from_vars(Some("true"), Some("Enforce"), None, None).unwrap_err();
        assert!(
            error.to_string().contains("ROS_SECURITY_KEYSTORE"),
            "{error}"
        );
        assert_eq!(
            security_from_vars(Some("true"), None, None, None).unwrap(),
            None
        );
        let error = security_from_vars(Some("true"), Some("enforce"), None, None).unwrap_err();
        assert!(
            error.to_string().contains("Enforce or Permissive"),
            "{error}"
        );

        let keystore = tempfile::tempdir().unwrap();
        let enclave = keystore.path().join("enclaves/robot/augur");
        std::fs::create_dir_all(&enclave).unwrap();
        for file in &ENCLAVE_FILES[..5] {
            std::fs::write(enclave.join(file), "x").unwrap();
        }
        let ks = keystore.path().to_str();
        let error = security_from_vars(Some("true"), Some("Enforce"), ks, Some("/robot/augur"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("enclave `/robot/augur`") && error.contains("permissions.p7s"),
            "{error}"
        );
        std::fs::write(enclave.join("permissions.p7s"), "x").unwrap();
        assert_eq!(
            security_from_vars(Some("true"), Some("Enforce"), ks, Some("/robot/augur")).unwrap(),
            Some(enclave)
        );
    }
}
