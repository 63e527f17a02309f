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

use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::zenoh::bytes::ZBytes;
use ::zenoh::liveliness::LivelinessToken;
use ::zenoh::pubsub::{Publisher, Subscriber};
use ::zenoh::qos::CongestionControl;
use ::zenoh::{Config, Session, Wait};
use zenoh_ext::{z_deserialize, z_serialize};

use super::{cdr, Durability, Received, Reliability, TopicQos, TransportError};
use crate::msg::Message;
use crate::ros_args;

/// The rmw_zenoh router's default endpoint (`ros2 run rmw_zenoh_cpp rmw_zenohd`).
pub const DEFAULT_ROUTER_ENDPOINT: &str = "tcp/127.0.0.1:7447";

/// Prefix of every ROS 2 graph liveliness token.
pub const LIVELINESS_ADMIN_SPACE: &str = "@ros2_lv";

/// rmw_zenoh's default history depth: a depth equal to it is left out of the QoS
/// part of a liveliness token (see `qos.cpp`).
const RMW_ZENOH_DEFAULT_DEPTH: usize = 42;

/// Size of a ROS 2 GID (`RMW_GID_STORAGE_SIZE` since Iron).
pub const GID_SIZE: usize = 16;

/// How to reach the zenoh network and who this node is in the ROS 2 graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZenohOptions {
    /// Node name as `ros2 node list` shows it, e.g. `augur`.
    pub name: String,
    /// Node namespace, `/` for the root.
    pub namespace: String,
    /// ROS domain id: the first chunk of every key expression.
    pub domain_id: u16,
    /// Endpoints to connect to, e.g. `tcp/127.0.0.1:7447` (the rmw_zenoh router).
    pub connect: Vec<String>,
    /// Endpoints to listen on for other peers; empty means Augur listens nowhere.
    pub listen: Vec<String>,
    /// UDP multicast scouting. Off by default: it would send beyond loopback.
    pub multicast_scouting: bool,
}

impl Default for ZenohOptions {
    fn default() -> Self {
        ZenohOptions {
            name: "augur".into(),
            namespace: "/".into(),
            domain_id: 0,
            connect: vec![DEFAULT_ROUTER_ENDPOINT.into()],
            listen: Vec::new(),
            multicast_scouting: false,
        }
    }
}

impl ZenohOptions {
    /// Sets `connect` from a comma-separated endpoint list, validating each.
    pub fn with_connect(mut self, endpoints: &str) -> Result<Self, TransportError> {
        self.connect = parse_endpoints(endpoints)?;
        Ok(self)
    }

    /// Sets `listen` from a comma-separated endpoint list, validating each.
    pub fn with_listen(mut self, endpoints: &str) -> Result<Self, TransportError> {
        self.listen = parse_endpoints(endpoints)?;
        Ok(self)
    }

    /// The zenoh session configuration: peer mode like rmw_zenoh's nodes, explicit
    /// endpoints only, multicast scouting as asked, gossip on but never dialling.
    fn session_config(&self) -> Result<Config, TransportError> {
        for endpoint in self.connect.iter().chain(&self.listen) {
            parse_endpoint(endpoint)?;
        }
        let mut config = Config::default();
        let json_list = |endpoints: &[String]| {
            serde_json::to_string(endpoints).unwrap_or_else(|_| "[]".to_string())
        };
        let settings = [
            ("mode", "\"peer\"".to_string()),
            ("connect/endpoints", json_list(&self.connect)),
            // Set even when empty: a peer's default is to listen on tcp/[::]:0.
            ("listen/endpoints", json_list(&self.listen)),
            (
                "scouting/multicast/enabled",
                self.multicast_scouting.to_string(),
            ),
            // Gossip on (zenoh warns "Gossip is disabled" for every peer session
            // without it), with an empty autoconnect matcher: it never dials a
            // peer, so only the explicit endpoints above are connected, and gossip
            // itself travels only over those sessions.
            ("scouting/gossip/enabled", "true".to_string()),
            ("scouting/gossip/autoconnect", "[]".to_string()),
        ];
        for (key, value) in settings {
            config
                .insert_json5(key, &value)
                .map_err(|error| TransportError::Config {
                    key: key.to_string(),
                    reason: error.to_string(),
                })?;
        }
        Ok(config)
    }
}

/// Checks one endpoint string, `tcp/<host>:<port>`, and returns it trimmed.
///
/// Only TCP is compiled into Augur's zenoh; other protocols are refused here
/// rather than failing later inside zenoh.
pub fn parse_endpoint(endpoint: &str) -> Result<String, TransportError> {
    let endpoint = endpoint.trim();
    let invalid = |reason: String| TransportError::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        reason,
    };
    let Some((protocol, address)) = endpoint.split_once('/') else {
        return Err(invalid(
            "expected `tcp/<host>:<port>`, e.g. `tcp/127.0.0.1:7447`".into(),
        ));
    };
    if protocol != "tcp" {
        return Err(invalid(format!(
            "protocol `{protocol}` is not supported, only `tcp` is built in"
        )));
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(invalid("missing `:<port>` after the host".into()));
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !host_ok {
        return Err(invalid(format!(
            "`{host}` is not an IPv4 address, a [IPv6] address or a host name"
        )));
    }
    if port.parse::<u16>().is_err() {
        return Err(invalid(format!(
            "port `{port}` is not a number in 0..=65535"
        )));
    }
    endpoint
        .parse::<::zenoh::config::EndPoint>()
        .map_err(|error| invalid(error.to_string()))?;
    Ok(endpoint.to_string())
}

/// Parses repeated command-line values, each a comma-separated endpoint list.
pub fn parse_endpoint_lists(lists: &[String]) -> Result<Vec<String>, TransportError> {
    let mut endpoints = Vec::new();
    for list in lists {
        endpoints.extend(parse_endpoints(list)?);
    }
    Ok(endpoints)
}

/// Refuses any endpoint whose host is not the loopback address (local benches and
/// `augur sim`: nothing may leave 127.0.0.1).
pub fn require_loopback(options: &ZenohOptions) -> Result<(), TransportError> {
    for endpoint in options.connect.iter().chain(&options.listen) {
        let host = endpoint
            .split_once('/')
            .and_then(|(_, address)| address.rsplit_once(':'))
            .map(|(host, _)| host);
        let loopback = matches!(host, Some("127.0.0.1" | "localhost" | "[::1]"));
        if !loopback {
            return Err(TransportError::InvalidEndpoint {
                endpoint: endpoint.clone(),
                reason: "this run is restricted to loopback: use tcp/127.0.0.1:<port>".into(),
            });
        }
    }
    if options.multicast_scouting {
        return Err(TransportError::Config {
            key: "scouting/multicast/enabled".into(),
            reason: "multicast scouting leaves loopback".into(),
        });
    }
    Ok(())
}

/// Parses a comma-separated endpoint list; empty entries are skipped.
pub fn parse_endpoints(list: &str) -> Result<Vec<String>, TransportError> {
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(parse_endpoint)
        .collect()
}

/// A ROS 2 node on zenoh: one session plus the node's liveliness token.
pub struct ZenohNode {
    session: Session,
    node: NodeIdentity,
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
                let message = cdr::decode::<M>(&sample.payload().to_bytes()).map_err(|source| {
                    TransportError::Decode {
                        topic: topic_name.clone(),
                        reason: format!("{}: {source}", M::ros_name()),
                    }
                });
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

fn validate_node_name(name: &str, namespace: &str) -> Result<(), TransportError> {
    let bad_name = name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let bad_namespace = !namespace.starts_with('/')
        || (namespace.len() > 1 && namespace.ends_with('/'))
        || namespace.contains("//")
        || !namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/');
    if bad_name || bad_namespace {
        return Err(TransportError::InvalidName {
            name: format!("{namespace} {name}"),
            reason: "node name must be [A-Za-z_][A-Za-z0-9_]* and the namespace absolute".into(),
        });
    }
    Ok(())
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

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The per-sample metadata rmw_zenoh attaches to every publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment {
    pub sequence_number: i64,
    /// Nanoseconds since the Unix epoch, system clock.
    pub source_timestamp_ns: i64,
    pub gid: [u8; GID_SIZE],
}

impl Attachment {
    /// Encoded length: two i64 and a 16-byte array with its 1-byte LEB128 length.
    pub const LEN: usize = 8 + 8 + 1 + GID_SIZE;

    /// The zenoh-ext serialisation rmw_zenoh >= 0.2.4 (Jazzy) / 0.6.0 (Kilted) uses:
    /// `(i64, i64, [u8; 16])`, i.e. i64 LE, i64 LE, then the GID as a sequence
    /// (LEB128 length 16, 16 bytes).
    pub fn encode(&self) -> ZBytes {
        z_serialize(&(self.sequence_number, self.source_timestamp_ns, self.gid))
    }

    /// Parses the current layout, or the keyed layout of rmw_zenoh < 0.2.4
    /// (`"sequence_number", i64, "source_timestamp", i64, "source_gid", bytes`).
    pub fn parse(bytes: &ZBytes) -> Option<Attachment> {
        if let Ok((sequence_number, source_timestamp_ns, gid)) =
            z_deserialize::<(i64, i64, [u8; GID_SIZE])>(bytes)
        {
            return Some(Attachment {
                sequence_number,
                source_timestamp_ns,
                gid,
            });
        }
        let (k1, sequence_number, k2, source_timestamp_ns, k3, gid) =
            z_deserialize::<(String, i64, String, i64, String, [u8; GID_SIZE])>(bytes).ok()?;
        (k1 == "sequence_number" && k2 == "source_timestamp" && k3 == "source_gid").then_some(
            Attachment {
                sequence_number,
                source_timestamp_ns,
                gid,
            },
        )
    }

    /// The source timestamp as a `SystemTime`, if it is a time after the epoch.
    pub fn source_time(&self) -> Option<SystemTime> {
        let nanos = u64::try_from(self.source_timestamp_ns).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Float64MultiArray, JointState};

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
