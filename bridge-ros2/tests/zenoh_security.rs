//! zenoh with mutual TLS and access control against the PyPI `eclipse-zenoh` client,
//! on loopback. The node listens on `tls/127.0.0.1:PORT` with the configuration file
//! `docs/security.md` describes (certificates made here with rcgen):
//!
//! - an authorised client (certificate CN `plant`) exchanges sensors and commands;
//! - a client whose certificate is valid but whose CN the access control does not
//!   allow, running at the same time, gets no command and none of its JointStates
//!   is accepted by the node;
//! - a client with a certificate from another CA, and one with no certificate, do
//!   not get a session at all.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: PathBuf,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    std::fs::write(&pem, issuer.pem()).unwrap();
    Ca { issuer, pem }
}

/// A leaf certificate for `localhost` / 127.0.0.1 with common name `cn`, signed by
/// `ca`; returns the certificate and key files.
fn leaf(dir: &Path, ca: &Ca, cn: &str, file: &str) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{file}.pem")),
        dir.join(format!("{file}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// The node's zenoh configuration: mutual TLS, and access control that lets the
/// `plant` certificate publish sensor data and subscribe to commands and
/// diagnostics, and denies everything else to everyone.
fn node_config(dir: &Path, ca: &Path, cert: &Path, key: &Path) -> PathBuf {
    let config = serde_json::json!({
        "transport": {"link": {"tls": {
            "root_ca_certificate": ca,
            "listen_certificate": cert,
            "listen_private_key": key,
            "enable_mtls": true,
        }}},
        "access_control": {
            "enabled": true,
            "default_permission": "deny",
            "rules": [
                {"id": "sensors-in", "permission": "allow", "flows": ["ingress"],
                 "messages": ["put"], "key_exprs": ["*/joint_states/**"]},
                {"id": "sensors-subscribe", "permission": "allow", "flows": ["egress"],
                 "messages": ["declare_subscriber"], "key_exprs": ["*/joint_states/**"]},
                {"id": "outputs-subscribe", "permission": "allow", "flows": ["ingress"],
                 "messages": ["declare_subscriber"],
                 "key_exprs": ["*/effort_controller/commands/**", "*/diagnostics/**"]},
                {"id": "outputs-out", "permission": "allow", "flows": ["egress"],
                 "messages": ["put"],
                 "key_exprs": ["*/effort_controller/commands/**", "*/diagnostics/**"]},
                {"id": "graph", "permission": "allow",
                 "messages": ["liveliness_token", "declare_liveliness_subscriber", "liveliness_query", "reply"],
                 "key_exprs": ["@ros2_lv/**"]}
            ],
            "subjects": [{"id": "plant", "cert_common_names": ["plant"]}],
            "policies": [{"rules": ["sensors-in", "sensors-subscribe", "outputs-subscribe", "outputs-out", "graph"],
                          "subjects": ["plant"]}]
        }
    });
    let path = dir.join("augur-zenoh.json5");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client(
    role: &str,
    port: u16,
    ca: &Path,
    identity: Option<&(PathBuf, PathBuf)>,
    position: f64,
) -> Child {
    let mut command = Command::new(common::python::python());
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/zenoh_secure_peer.py"
        ))
        .arg(role)
        .args(["--connect", &format!("tls/localhost:{port}")])
        .arg("--ca")
        .arg(ca)
        .args(["--position", &position.to_string()])
        .env("PYTHONUNBUFFERED", "1")
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some((cert, key)) = identity {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command.spawn().expect("spawn the zenoh client")
}

fn result(child: Child) -> Value {
    let output = child.wait_with_output().expect("the client finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output: {output:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn mutual_tls_and_access_control_decide_who_feeds_the_node_and_reads_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let ca_main = ca(dir.path(), "augur-test-ca");
    let rogue_ca = ca(dir.path(), "rogue-ca");
    let (node_cert, node_key) = leaf(dir.path(), &ca_main, "augur", "node");
    let plant = leaf(dir.path(), &ca_main, "plant", "plant");
    let intruder = leaf(dir.path(), &ca_main, "intruder", "intruder");
    let forged = leaf(dir.path(), &rogue_ca, "plant", "forged-plant");
    let config = node_config(dir.path(), &ca_main.pem, &node_cert, &node_key);

    let port = free_port();
    let mut node = Command::new(env!("CARGO_BIN_EXE_augur"));
    node.args(["run", "--model"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum"))
        .args(["--trigger", "observation", "--transport", "zenoh"])
        .args(["--zenoh-listen", &format!("tls/127.0.0.1:{port}")])
        .args(["--ros-args", "-p", "diagnostics_period:=0.5", "-p"])
        .arg(format!("zenoh.config:={}", config.display()))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null());
    let node = Killed(node.spawn().expect("spawn augur"));
    // The listener is up once the port refuses a second bind.
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
    });
    assert!(up, "the node did not listen on {port}");

    // The authorised plant and the intruder at the same time, the intruder sending
    // more (and a different angle): any of its states accepted would show in the
    // node's count.
    // node's count. The two that must not get a session try at the same time.
    let runs = [
        client("plant", port, &ca_main.pem, Some(&plant), 0.3),
        client("intruder", port, &ca_main.pem, Some(&intruder), 3.0),
        client("forged", port, &ca_main.pem, Some(&forged), 3.0),
        client("anonymous", port, &ca_main.pem, None, 3.0),
    ];
    let [plant, intruder, forged, anonymous] = runs.map(result);
    drop(node);

    assert_eq!(plant["connected"], true, "{plant}");
    let sent = plant["sent"].as_u64().unwrap();
    let commands = plant["commands"].as_u64().unwrap();
    assert!(
        commands >= sent / 2,
        "the plant got {commands} commands for {sent} states: {plant}"
    );
    let accepted: u64 = plant["diagnostics"]["messages_accepted"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no /diagnostics at the plant: {plant}"));
    assert!(
        accepted > 0 && accepted <= sent,
        "the node accepted {accepted} states; only the plant's {sent} may count"
    );

    assert_eq!(
        intruder["connected"], true,
        "a valid certificate connects: {intruder}"
    );
    assert_eq!(
        intruder["commands"], 0,
        "the ACL let the intruder read commands: {intruder}"
    );
    assert_eq!(intruder["diagnostics"], serde_json::json!({}), "{intruder}");

    for refused in [&forged, &anonymous] {
        assert_eq!(refused["connected"], false, "{refused}");
        assert_eq!(refused["commands"], 0, "{refused}");
    }
}
