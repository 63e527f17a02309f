//! How a zenoh session is opened: the endpoints to connect to and listen on
//! (checked, `tcp` only, loopback enforced for benches) and the zenoh configuration
//! built from them.

use ::zenoh::Config;

use super::DEFAULT_ROUTER_ENDPOINT;
use crate::transport::TransportError;

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
    pub(super) fn session_config(&self) -> Result<Config, TransportError> {
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
