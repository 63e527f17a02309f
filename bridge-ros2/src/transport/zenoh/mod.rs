//! The zenoh transport: publishes and subscribes ROS 2 messages exactly as
//! `rmw_zenoh_cpp` (Jazzy ≥ 0.2.4, Kilted) puts them on the wire, so a ROS 2 system
//! running rmw_zenoh, or any zenoh router it uses, talks to Augur directly.
//!
//! The mapping (key expressions, CDR payload, attachment, liveliness tokens, QoS)
//! is written down with its sources in `docs/zenoh.md`. In short:
//! - data on `<domain>/<topic without leading slash>/<dds type>/<RIHS01 hash>`,
//! - payload: CDR with its 4-byte encapsulation header,
//! - attachment: `i64 sequence number, i64 source timestamp (ns), 16-byte GID`,
//!   zenoh-ext serialised (33 bytes),
//! - graph: liveliness tokens under `@ros2_lv/<domain>/...` for the node, each
//!   publisher (`MP`) and each subscriber (`MS`).
//!
//! Sessions use the blocking zenoh API (`zenoh::Wait`); zenoh runs its own tokio
//! runtime, so none is needed here. Subscription callbacks run on zenoh's threads:
//! keep them short (hand the message to a channel).
//!
//! This file holds the session and its publishers, subscriptions and tokens;
//! `options` the endpoints and zenoh configuration, `names` rmw_zenoh's key
//! expressions, token QoS and GIDs, `attachment` the per-sample attachment.

mod attachment;
mod names;
mod options;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use ::zenoh::liveliness::LivelinessToken;
use ::zenoh::pubsub::{Publisher, Subscriber};
use ::zenoh::qos::CongestionControl;
use ::zenoh::{Session, Wait};

use super::{cdr, Durability, Received, Reliability, TopicQos, TransportError};
use crate::msg::Message;

use attachment::now_ns;
pub use attachment::Attachment;
use names::validate_node_name;
pub use names::{gid_of, mangle, qos_to_keyexpr, resolve_topic, topic_key_expr};
pub use options::{
    parse_endpoint, parse_endpoint_lists, parse_endpoints, require_loopback, ZenohOptions,
};

/// The rmw_zenoh router's default endpoint (`ros2 run rmw_zenoh_cpp rmw_zenohd`).
pub const DEFAULT_ROUTER_ENDPOINT: &str = "tcp/127.0.0.1:7447";

/// Prefix of every ROS 2 graph liveliness token.
pub const LIVELINESS_ADMIN_SPACE: &str = "@ros2_lv";

/// rmw_zenoh's default history depth: a depth equal to it is left out of the QoS
/// part of a liveliness token (see `qos.cpp`).
const RMW_ZENOH_DEFAULT_DEPTH: usize = 42;

/// Size of a ROS 2 GID (`RMW_GID_STORAGE_SIZE` since Iron).
pub const GID_SIZE: usize = 16;

/// A ROS 2 node on zenoh: one session plus the node's liveliness token.
pub struct ZenohNode {
    session: Session,
    node: NodeIdentity,
    /// Longer sensor payloads are refused (counted as malformed) before decoding.
    max_message_bytes: usize,
    /// Entity ids for publishers and subscribers; the node itself is id 0.
    next_entity_id: AtomicUsize,
    _token: LivelinessToken,
}

/// The parts of the node's identity that every entity token repeats.
#[derive(Debug, Clone)]
struct NodeIdentity {
    domain_id: u16,
    zid: String,
    id: usize,
    namespace: String,
    name: String,
}

impl NodeIdentity {
    /// `@ros2_lv/<domain>/<zid>/<node id>/<entity id>/<kind>/<enclave>/<ns>/<name>`.
    fn entity_prefix(&self, entity_id: usize, kind: &str) -> String {
        format!(
            "{LIVELINESS_ADMIN_SPACE}/{}/{}/{}/{entity_id}/{kind}/{}/{}/{}",
            self.domain_id,
            self.zid,
            self.id,
            mangle("/"),
            mangle(&self.namespace),
            mangle(&self.name),
        )
    }
}

impl ZenohNode {
    /// Opens the zenoh session and announces the node in the ROS 2 graph.
    pub fn new(options: &ZenohOptions) -> Result<ZenohNode, TransportError> {
        validate_node_name(&options.name, &options.namespace)?;
        let config = options.session_config()?;
        let session = ::zenoh::open(config)
            .wait()
            .map_err(|error| TransportError::Session {
                reason: error.to_string(),
            })?;
        let node = NodeIdentity {
            domain_id: options.domain_id,
            zid: session.zid().to_string(),
            id: 0,
            namespace: options.namespace.clone(),
            name: options.name.clone(),
        };
        let key = node.entity_prefix(node.id, "NN");
        let token = declare_token(&session, &key)?;
        Ok(ZenohNode {
            session,
            node,
            next_entity_id: AtomicUsize::new(1),
            max_message_bytes: options.max_message_bytes,
            _token: token,
        })
    }

    /// This session's zenoh id, as it appears in liveliness tokens.
    pub fn zid(&self) -> &str {
        &self.node.zid
    }

    /// The node's liveliness key expression (`.../NN/...`).
    pub fn liveliness_key(&self) -> String {
        self.node.entity_prefix(self.node.id, "NN")
    }

    /// Declares a publisher of `M` on `topic` (absolute `/a/b`, private `~/a`, or
    /// relative to the node namespace) and its `MP` liveliness token.
    pub fn publisher<M: Message>(
        &self,
        topic: &str,
        qos: &TopicQos,
    ) -> Result<ZenohPublisher<M>, TransportError> {
        let endpoint = self.endpoint::<M>(topic, qos, "MP")?;
        // rmw_zenoh: reliable → RELIABLE, best effort → BEST_EFFORT; congestion
        // control is DROP for KEEP_LAST history (the only history here).
        let reliability = match qos.reliability {
            Reliability::Reliable => ::zenoh::qos::Reliability::Reliable,
            Reliability::BestEffort => ::zenoh::qos::Reliability::BestEffort,
        };
        let publisher = self
            .session
            .declare_publisher(endpoint.key_expr.clone())
            .congestion_control(CongestionControl::Drop)
            .reliability(reliability)
            // Not batched: a command leaves at once instead of waiting for a batch
            // to fill or its timer (rmw_zenoh leaves batching on; a controller wants
            // the latency).
            .express(true)
            .wait()
            .map_err(|error| TransportError::Declare {
                key_expr: endpoint.key_expr.clone(),
                reason: error.to_string(),
            })?;
        let token = declare_token(&self.session, &endpoint.liveliness_key)?;
        Ok(ZenohPublisher {
            publisher,
            _token: token,
            topic: endpoint.topic,
            key_expr: endpoint.key_expr,
            liveliness_key: endpoint.liveliness_key,
            gid: endpoint.gid,
            // rmw_zenoh's publishers start counting at 1.
            sequence_number: AtomicI64::new(1),
            _message: PhantomData,
        })
    }

    /// Subscribes to `M` on `topic` and declares the `MS` liveliness token.
    ///
    /// `on_message` runs on a zenoh thread for every sample: a payload that does
    /// not decode as `M` arrives as `Err`. Dropping the returned [`Subscription`]
    /// undeclares both.
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
        let endpoint = self.endpoint::<M>(topic, qos, "MS")?;
        let topic_name = endpoint.topic.clone();
        let max_bytes = self.max_message_bytes;
        // zenoh wants a `Fn + Sync` callback; samples of one subscriber arrive one
        // at a time, so the lock is uncontended.
        let on_message = Mutex::new(on_message);
        let subscriber = self
            .session
            .declare_subscriber(endpoint.key_expr.clone())
            .callback(move |sample| {
                let received_at = Instant::now();
                let source_timestamp = sample
                    .attachment()
                    .and_then(Attachment::parse)
                    .and_then(|attachment| attachment.source_time());
                let payload = sample.payload();
                let message = if payload.len() > max_bytes {
                    Err(TransportError::Decode {
                        topic: topic_name.clone(),
                        reason: format!(
                            "{}: a payload of {} bytes is over max_message_bytes ({max_bytes})",
                            M::ros_name(),
                            payload.len()
                        ),
                    })
                } else {
                    cdr::decode::<M>(&payload.to_bytes()).map_err(|source| TransportError::Decode {
                        topic: topic_name.clone(),
                        reason: format!("{}: {source}", M::ros_name()),
                    })
                };
                let received = Received {
                    source_timestamp,
                    received_at,
                };
                // A callback that panicked once poisons the lock; keep delivering.
                let mut on_message = on_message
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                (*on_message)(message, received);
            })
            .wait()
            .map_err(|error| TransportError::Declare {
                key_expr: endpoint.key_expr.clone(),
                reason: error.to_string(),
            })?;
        let token = declare_token(&self.session, &endpoint.liveliness_key)?;
        Ok(Subscription {
            _token: token,
            _subscriber: subscriber,
            topic: endpoint.topic,
            key_expr: endpoint.key_expr,
            liveliness_key: endpoint.liveliness_key,
        })
    }

    /// Resolves the topic and builds its data key expression, token and GID.
    fn endpoint<M: Message>(
        &self,
        topic: &str,
        qos: &TopicQos,
        kind: &str,
    ) -> Result<Endpoint, TransportError> {
        let topic = resolve_topic(topic, &self.node.namespace, &self.node.name)?;
        if qos.durability == Durability::TransientLocal {
            // rmw_zenoh serves TRANSIENT_LOCAL through zenoh-ext's advanced
            // publisher cache; advertising it without the cache would be a lie.
            return Err(TransportError::Unsupported {
                topic,
                what: "TRANSIENT_LOCAL durability",
            });
        }
        let key_expr = topic_key_expr::<M>(self.node.domain_id, &topic);
        let entity_id = self.next_entity_id.fetch_add(1, Ordering::Relaxed);
        let liveliness_key = format!(
            "{}/{}/{}/{}/{}",
            self.node.entity_prefix(entity_id, kind),
            mangle(&topic),
            M::dds_name(),
            M::TYPE_HASH,
            qos_to_keyexpr(qos),
        );
        let gid = gid_of(&liveliness_key);
        Ok(Endpoint {
            topic,
            key_expr,
            liveliness_key,
            gid,
        })
    }
}

/// A topic's resolved names, before anything is declared.
struct Endpoint {
    topic: String,
    key_expr: String,
    liveliness_key: String,
    gid: [u8; GID_SIZE],
}

/// Publishes `M` on one topic, with the rmw_zenoh attachment on every sample.
pub struct ZenohPublisher<M: Message> {
    publisher: Publisher<'static>,
    _token: LivelinessToken,
    topic: String,
    key_expr: String,
    liveliness_key: String,
    gid: [u8; GID_SIZE],
    sequence_number: AtomicI64,
    _message: PhantomData<fn(&M)>,
}

impl<M: Message> ZenohPublisher<M> {
    /// CDR-encodes `message` and puts it with a fresh attachment.
    ///
    /// Allocates the payload and the 33-byte attachment; zenoh takes both.
    pub fn publish(&self, message: &M) -> Result<(), TransportError> {
        let payload = cdr::encode(message).map_err(|source| TransportError::Encode {
            topic: self.topic.clone(),
            type_name: M::ros_name(),
            source,
        })?;
        let attachment = Attachment {
            sequence_number: self.sequence_number.fetch_add(1, Ordering::Relaxed),
            source_timestamp_ns: now_ns(),
            gid: self.gid,
        };
        self.publisher
            .put(payload)
            .attachment(attachment.encode())
            .wait()
            .map_err(|error| TransportError::Publish {
                topic: self.topic.clone(),
                reason: error.to_string(),
            })
    }

    /// The resolved ROS topic name, e.g. `/effort_controller/commands`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The zenoh key expression the data goes to.
    pub fn key_expr(&self) -> &str {
        &self.key_expr
    }

    /// The `MP` liveliness token announcing this publisher.
    pub fn liveliness_key(&self) -> &str {
        &self.liveliness_key
    }

    /// The publisher GID carried in every attachment.
    pub fn gid(&self) -> [u8; GID_SIZE] {
        self.gid
    }
}

/// A live subscription; dropping it undeclares the subscriber and its token.
pub struct Subscription {
    _token: LivelinessToken,
    _subscriber: Subscriber<()>,
    topic: String,
    key_expr: String,
    liveliness_key: String,
}

impl Subscription {
    /// The resolved ROS topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The zenoh key expression listened to.
    pub fn key_expr(&self) -> &str {
        &self.key_expr
    }

    /// The `MS` liveliness token announcing this subscriber.
    pub fn liveliness_key(&self) -> &str {
        &self.liveliness_key
    }
}

fn declare_token(session: &Session, key: &str) -> Result<LivelinessToken, TransportError> {
    session
        .liveliness()
        .declare_token(key.to_string())
        .wait()
        .map_err(|error| TransportError::Declare {
            key_expr: key.to_string(),
            reason: error.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Float64MultiArray, JointState};
    use ::zenoh::bytes::ZBytes;
    use std::time::{Duration, UNIX_EPOCH};

    fn qos(reliability: Reliability, depth: usize) -> TopicQos {
        TopicQos {
            reliability,
            durability: Durability::Volatile,
            depth,
        }
    }

    #[test]
    fn key_expressions_follow_rmw_zenoh() {
        assert_eq!(
            topic_key_expr::<JointState>(0, "/joint_states"),
            "0/joint_states/sensor_msgs::msg::dds_::JointState_/\
             RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"
        );
        assert_eq!(
            topic_key_expr::<Float64MultiArray>(7, "/effort_controller/commands"),
            "7/effort_controller/commands/std_msgs::msg::dds_::Float64MultiArray_/\
             RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f"
        );
    }

    #[test]
    fn qos_keyexpr_leaves_rmw_zenoh_defaults_empty() {
        assert_eq!(
            qos_to_keyexpr(&qos(Reliability::Reliable, 42)),
            "::,:,:,:,,"
        );
        assert_eq!(qos_to_keyexpr(&qos(Reliability::Reliable, 0)), "::,:,:,:,,");
        assert_eq!(
            qos_to_keyexpr(&qos(Reliability::Reliable, 10)),
            "::,10:,:,:,,"
        );
        assert_eq!(
            qos_to_keyexpr(&qos(Reliability::BestEffort, 1)),
            "2::,1:,:,:,,"
        );
    }

    #[test]
    fn topics_resolve_like_ros() {
        assert_eq!(resolve_topic("/a/b", "/", "augur").unwrap(), "/a/b");
        assert_eq!(resolve_topic("a", "/ns", "augur").unwrap(), "/ns/a");
        assert_eq!(resolve_topic("a", "/", "augur").unwrap(), "/a");
        assert_eq!(
            resolve_topic("~/predicted_path", "/", "augur").unwrap(),
            "/augur/predicted_path"
        );
        for bad in ["/", "/a/", "//a", "/a b", "/a/*", "/1a", "/a$"] {
            assert!(
                matches!(
                    resolve_topic(bad, "/", "augur"),
                    Err(TransportError::InvalidName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoints_are_checked_with_clear_errors() {
        assert_eq!(
            parse_endpoints(" tcp/127.0.0.1:7447, tcp/localhost:1 ,").unwrap(),
            vec!["tcp/127.0.0.1:7447", "tcp/localhost:1"]
        );
        assert_eq!(parse_endpoint("tcp/[::1]:7447").unwrap(), "tcp/[::1]:7447");
        for (bad, says) in [
            ("127.0.0.1:7447", "expected `tcp/<host>:<port>`"),
            ("udp/127.0.0.1:7447", "protocol `udp` is not supported"),
            ("tcp/127.0.0.1", "missing `:<port>`"),
            ("tcp/127.0.0.1:70000", "port `70000`"),
            ("tcp/:7447", "is not an IPv4 address"),
        ] {
            let error = parse_endpoint(bad).expect_err(bad).to_string();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(error.contains(bad), "{bad}: {error}");
        }
    }

    #[test]
    fn attachment_layout_matches_zenoh_ext_serializer() {
        let attachment = Attachment {
            sequence_number: 5,
            source_timestamp_ns: 7,
            gid: std::array::from_fn(|i| i as u8),
        };
        // zenoh.ext.z_serialize((Int64(5), Int64(7), bytes(range(16)))) in eclipse-zenoh 1.10.2.
        let expected = "05000000000000000700000000000000\
                        10000102030405060708090a0b0c0d0e0f";
        let hex: String = attachment
            .encode()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected);
        assert_eq!(Attachment::parse(&attachment.encode()), Some(attachment));
        let truncated = ZBytes::from(attachment.encode().to_bytes()[..32].to_vec());
        assert_eq!(Attachment::parse(&truncated), None);
    }

    #[test]
    fn keyed_attachment_of_older_rmw_zenoh_parses() {
        let mut bytes = Vec::new();
        let push_str = |s: &[u8], bytes: &mut Vec<u8>| {
            bytes.push(s.len() as u8);
            bytes.extend_from_slice(s);
        };
        push_str(b"sequence_number", &mut bytes);
        bytes.extend_from_slice(&3i64.to_le_bytes());
        push_str(b"source_timestamp", &mut bytes);
        bytes.extend_from_slice(&1_700_000_000_000_000_000i64.to_le_bytes());
        push_str(b"source_gid", &mut bytes);
        push_str(&[9u8; 16], &mut bytes);
        let attachment = Attachment::parse(&ZBytes::from(bytes)).expect("parses");
        assert_eq!(attachment.sequence_number, 3);
        assert_eq!(attachment.gid, [9u8; 16]);
        assert_eq!(
            attachment.source_time(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
    }

    #[test]
    fn gid_is_xxh3_128_of_the_token_low_half_first() {
        let gid = gid_of("@ros2_lv/0/abc/0/1/MP/%/%/augur/%joint_states/t/h/::,:,:,:,,");
        let hash = xxhash_rust::xxh3::xxh3_128(
            b"@ros2_lv/0/abc/0/1/MP/%/%/augur/%joint_states/t/h/::,:,:,:,,",
        );
        assert_eq!(gid[..8], (hash as u64).to_le_bytes());
        assert_eq!(gid[8..], ((hash >> 64) as u64).to_le_bytes());
    }
}
