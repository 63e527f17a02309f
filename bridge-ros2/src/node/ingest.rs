//! Sensor subscriptions: each message is decoded on the transport's thread, recorded
//! if the node records, reduced by the observation map to a fixed-size sample and
//! pushed onto its source's latest-wins queue (`augur_runtime::control::ingest`). A
//! malformed message is counted and warned about at most once a second per topic.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use augur_runtime::control::{ObservationMap, SampleSender, SensorView, SourceKind};
use serde::Serialize;

use super::record::NodeRecorder;
use crate::msg::{Imu, JointState, Message, Odometry, PointStamped, Quaternion, Vector3};
use crate::transport::{Received, Subscription, TopicQos, Transport, TransportError};

/// A sensor message type the node subscribes to, and the view the observation map
/// extracts features from (borrowed, so extraction copies only the features).
pub trait SensorMessage: Message + Clone + Serialize {
    /// The message as the runtime's observation map sees it.
    fn view(&self) -> SensorView<'_>;
}

impl SensorMessage for JointState {
    fn view(&self) -> SensorView<'_> {
        SensorView::JointState {
            names: &self.name,
            position: &self.position,
            velocity: &self.velocity,
            effort: &self.effort,
        }
    }
}

impl SensorMessage for Imu {
    fn view(&self) -> SensorView<'_> {
        SensorView::Imu {
            orientation: quaternion(&self.orientation),
            angular_velocity: vector(&self.angular_velocity),
            linear_acceleration: vector(&self.linear_acceleration),
        }
    }
}

impl SensorMessage for Odometry {
    fn view(&self) -> SensorView<'_> {
        let p = &self.pose.pose.position;
        SensorView::Odometry {
            position: [p.x, p.y, p.z],
            orientation: quaternion(&self.pose.pose.orientation),
            linear: vector(&self.twist.twist.linear),
            angular: vector(&self.twist.twist.angular),
        }
    }
}

impl SensorMessage for PointStamped {
    fn view(&self) -> SensorView<'_> {
        SensorView::PointStamped {
            point: [self.point.x, self.point.y, self.point.z],
        }
    }
}

fn quaternion(q: &Quaternion) -> [f64; 4] {
    [q.x, q.y, q.z, q.w]
}

fn vector(v: &Vector3) -> [f64; 3] {
    [v.x, v.y, v.z]
}

/// Where one source's messages go once decoded.
struct SourceIngest {
    index: usize,
    topic: String,
    map: Arc<ObservationMap>,
    sender: SampleSender,
    recorder: Option<Arc<NodeRecorder>>,
    warn: RateLimitedWarning,
}

impl SourceIngest {
    fn receive<M: SensorMessage>(&self, message: Result<M, TransportError>, info: Received) {
        let _ingest = tracing::trace_span!("ingest", source = self.index).entered();
        let sample = message.map_err(|e| e.to_string()).and_then(|message| {
            if let Some(recorder) = &self.recorder {
                let stamp = info
                    .source_timestamp
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos() as u64);
                recorder.write(&self.topic, stamp, &message);
            }
            self.map
                .extract(self.index, &message.view(), info.received_at)
                .map_err(|e| e.to_string())
        });
        match sample {
            Ok(sample) => self.sender.push(sample),
            Err(reason) => {
                self.sender.malformed();
                self.warn.warn(&reason);
            }
        }
    }
}

/// Subscribes source `index` of `map` (of type `kind`) on `topic` with the
/// sensor-data QoS: decode, record, extract, queue (latest wins).
pub fn subscribe_source(
    transport: &Transport,
    topic: &str,
    kind: SourceKind,
    index: usize,
    map: Arc<ObservationMap>,
    sender: SampleSender,
    recorder: Option<Arc<NodeRecorder>>,
) -> anyhow::Result<Subscription> {
    let ingest = SourceIngest {
        index,
        topic: topic.to_string(),
        map,
        sender,
        recorder,
        warn: RateLimitedWarning::new(topic),
    };
    fn subscribe<M: SensorMessage>(
        transport: &Transport,
        topic: &str,
        ingest: SourceIngest,
    ) -> Result<Subscription, TransportError> {
        transport.subscribe::<M, _>(topic, &TopicQos::SENSOR_DATA, move |message, info| {
            ingest.receive(message, info)
        })
    }
    Ok(match kind {
        SourceKind::JointState => subscribe::<JointState>(transport, topic, ingest)?,
        SourceKind::Imu => subscribe::<Imu>(transport, topic, ingest)?,
        SourceKind::Odometry => subscribe::<Odometry>(transport, topic, ingest)?,
        SourceKind::PointStamped => subscribe::<PointStamped>(transport, topic, ingest)?,
    })
}

/// A warning logged at most once per second per topic, with the count suppressed.
struct RateLimitedWarning {
    topic: String,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedWarning {
    fn new(topic: &str) -> Self {
        Self {
            topic: topic.to_string(),
            state: Mutex::new((None, 0)),
        }
    }

    fn warn(&self, reason: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match state.0 {
            Some(last) if now - last < Duration::from_secs(1) => state.1 += 1,
            _ => {
                let suppressed = std::mem::take(&mut state.1);
                state.0 = Some(now);
                tracing::warn!(
                    topic = %self.topic,
                    suppressed,
                    "dropped a malformed message: {reason}"
                );
            }
        }
    }
}
