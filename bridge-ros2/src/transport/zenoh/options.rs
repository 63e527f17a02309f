//! How a zenoh session is opened: the endpoints to connect to and listen on
//! (checked, `tcp` or `tls`, loopback enforced for benches) and the zenoh
//! configuration built from them over an optional configuration file (TLS
//! certificates, access control; docs/security.md).

use std::path::PathBuf;

use ::zenoh::Config;

use super::DEFAULT_ROUTER_ENDPOINT;
use crate::transport::{TransportError, DEFAULT_MAX_MESSAGE_BYTES};

/// What zenoh's reassembly limit allows beyond `max_message_bytes`.
pub const RX_SLACK_BYTES: usize = 64 << 10;

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
    /// A zenoh configuration file (JSON5, JSON or YAML) the session starts from:
    /// TLS (`transport/link/tls`), access control (`access_control`) and any other
    /// zenoh setting. Mode, endpoints and scouting stay Augur's.
    pub config_file: Option<PathBuf>,
    /// The largest sensor payload the node decodes; zenoh reassembles nothing
    /// longer than this plus [`RX_SLACK_BYTES`] (`transport/link/rx/max_message_size`).
    pub max_message_bytes: usize,
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
            config_file: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
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
        let mut config = match &self.config_file {
            None => Config::default(),
            Some(path) => file_config(path)?,
        };
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
            // zenoh refuses to reassemble anything longer; the slack is for the
            // attachment and headers, so payloads up to the limit reach the node's
            // own check (counted there).
            (
                "transport/link/rx/max_message_size",
                (self.max_message_bytes + RX_SLACK_BYTES).to_string(),
            ),
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

/// Reads a zenoh configuration file. Endpoints and scouting in it are refused:
/// Augur sets them from `--zenoh-connect` / `--zenoh-listen`, and a file that
/// silently lost its endpoints would be worse than one refused.
fn file_config(path: &std::path::Path) -> Result<Config, TransportError> {
    let error = |reason: String| TransportError::Config {
        key: format!("zenoh.config {}", path.display()),
        reason,
    };
    let config = Config::from_file(path).map_err(|e| error(e.to_string()))?;
    // Unset keys read back as zenoh's defaults: compare with those.
    let defaults = Config::default();
    let changed = |key: &str| -> Result<Option<String>, TransportError> {
        let value = config.get_json(key).map_err(|e| error(e.to_string()))?;
        let default = defaults.get_json(key).map_err(|e| error(e.to_string()))?;
        Ok((value != default).then_some(value))
    };
    for key in ["connect/endpoints", "listen/endpoints"] {
        if let Some(value) = changed(key)? {
            return Err(error(format!(
                "sets `{key}` ({value}): give endpoints with --zenoh-connect / --zenoh-listen"
            )));
        }
    }
    if changed("scouting/multicast/enabled")?.as_deref() == Some("true") {
        return Err(error(
            "enables multicast scouting, which leaves the configured endpoints".into(),
        ));
    }
    Ok(config)
}

/// Checks one endpoint string, `tcp/<host>:<port>` or `tls/<host>:<port>`, and
/// returns it trimmed.
///
/// Only TCP and TLS are compiled into Augur's zenoh; other protocols are refused
/// here rather than failing later inside zenoh.
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
    if protocol != "tcp" && protocol != "tls" {
        return Err(invalid(format!(
            "protocol `{protocol}` is not supported, only `tcp` and `tls` are built in"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options_with(file: Option<PathBuf>) -> ZenohOptions {
        ZenohOptions {
            connect: vec!["tls/127.0.0.1:7447".into()],
            config_file: file,
            max_message_bytes: 4096,
            ..ZenohOptions::default()
        }
    }

    #[test]
    fn a_config_file_supplies_tls_and_access_control_and_augur_keeps_its_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zenoh.json5");
        std::fs::write(
            &file,
            r#"{
              // TLS and access control come from the file.
              transport: { link: { tls: { root_ca_certificate: "/etc/augur/ca.pem", enable_mtls: true } } },
              access_control: { enabled: true, default_permission: "deny", rules: [], subjects: [], policies: [] },
            }"#,
        )
        .unwrap();
        let config = options_with(Some(file)).session_config().unwrap();
        let get = |key: &str| config.get_json(key).unwrap();
        assert_eq!(
            get("transport/link/tls/root_ca_certificate"),
            "\"/etc/augur/ca.pem\""
        );
        assert_eq!(get("transport/link/tls/enable_mtls"), "true");
        assert_eq!(get("access_control/enabled"), "true");
        assert_eq!(get("mode"), "\"peer\"");
        assert_eq!(get("connect/endpoints"), "[\"tls/127.0.0.1:7447\"]");
        assert_eq!(get("listen/endpoints"), "[]");
        assert_eq!(
            get("transport/link/rx/max_message_size"),
            (4096 + RX_SLACK_BYTES).to_string()
        );
    }

    #[test]
    fn a_config_file_with_endpoints_scouting_or_bad_syntax_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text, says) in [
            (
                "listen.json5",
                r#"{ listen: { endpoints: ["tcp/0.0.0.0:7447"] } }"#,
                "listen/endpoints",
            ),
            (
                "connect.json5",
                r#"{ connect: { endpoints: ["tcp/10.0.0.2:7447"] } }"#,
                "connect/endpoints",
            ),
            (
                "multicast.json5",
                r#"{ scouting: { multicast: { enabled: true } } }"#,
                "multicast",
            ),
            ("broken.json5", "{ transport: ", "broken.json5"),
        ] {
            let file = dir.path().join(name);
            std::fs::write(&file, text).unwrap();
            let error = options_with(Some(file))
                .session_config()
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(name) && error.contains(says),
                "{name}: {error}"
            );
        }
        let missing = dir.path().join("missing.json5");
        let error = options_with(Some(missing))
            .session_config()
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing.json5"), "{error}");
    }

    #[test]
    fn tls_endpoints_are_accepted_and_other_protocols_named() {
        assert_eq!(
            parse_endpoint("tls/localhost:7447").unwrap(),
            "tls/localhost:7447"
        );
        let error = parse_endpoint("quic/127.0.0.1:7447")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`tcp` and `tls`"), "{error}");
    }
}
