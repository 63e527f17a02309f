//! The runner's view of the node: every command and the latest `/diagnostics`
//! report, timed from the start of the run, on the runner's own participant.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use augur_bridge_ros2::msg::{DiagnosticArray, Float64MultiArray};
use augur_bridge_ros2::node::diagnostics::STATUS_NAME;
use augur_bridge_ros2::transport::{TopicQos, Transport};

use super::unix_s;
use crate::judge::CommandSample;

/// What both plants share: the commands and `/diagnostics` the runner's participant
/// receives, timed from `t0`.
pub(super) struct Observer {
    pub(super) _subscriptions: Vec<augur_bridge_ros2::transport::Subscription>,
    pub(super) commands: Arc<Mutex<Vec<CommandSample>>>,
    pub(super) latest: Arc<Mutex<Option<f64>>>,
    pub(super) diagnostics: Arc<Mutex<Option<(Instant, BTreeMap<String, String>)>>>,
}

impl Observer {
    pub(super) fn new(
        transport: &Transport,
        command_topic: &str,
        t0_unix: f64,
    ) -> anyhow::Result<Observer> {
        let commands = Arc::new(Mutex::new(Vec::new()));
        let latest = Arc::new(Mutex::new(None));
        let diagnostics = Arc::new(Mutex::new(None));
        let (c, l) = (commands.clone(), latest.clone());
        let mut subscriptions = vec![transport.subscribe::<Float64MultiArray, _>(
            command_topic,
            &TopicQos::COMMANDS,
            move |message, _| {
                if let Ok(message) = message {
                    let t = unix_s(SystemTime::now()) - t0_unix;
                    *l.lock().unwrap_or_else(|e| e.into_inner()) = message.data.first().copied();
                    c.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(CommandSample {
                            t,
                            values: message.data,
                        });
                }
            },
        )?];
        let d = diagnostics.clone();
        subscriptions.push(transport.subscribe::<DiagnosticArray, _>(
            "/diagnostics",
            &TopicQos::DIAGNOSTICS,
            move |message, received| {
                let Ok(message) = message else { return };
                if let Some(status) = message.status.iter().find(|s| s.name == STATUS_NAME) {
                    let values = status
                        .values
                        .iter()
                        .map(|kv| (kv.key.clone(), kv.value.clone()))
                        .collect();
                    *d.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((received.received_at, values));
                }
            },
        )?);
        Ok(Observer {
            _subscriptions: subscriptions,
            commands,
            latest,
            diagnostics,
        })
    }

    pub(super) fn command_count(&self) -> usize {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The first `/diagnostics` report received after `after`, waiting up to
    /// `timeout`.
    pub(super) fn diagnostics_after(
        &self,
        after: Instant,
        timeout: Duration,
    ) -> Option<BTreeMap<String, String>> {
        let until = Instant::now() + timeout;
        loop {
            if let Some((at, values)) = &*self.diagnostics.lock().unwrap_or_else(|e| e.into_inner())
            {
                if *at > after {
                    return Some(values.clone());
                }
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The last `/diagnostics` report, however old.
    pub(super) fn last_diagnostics(&self) -> BTreeMap<String, String> {
        self.diagnostics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, values)| values.clone())
            .unwrap_or_default()
    }
}
