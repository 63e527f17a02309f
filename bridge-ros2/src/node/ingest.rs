//! Sensor subscriptions: each message is decoded on the transport's thread, recorded
//! if the node records, reduced by the observation map to a fixed-size sample and
//! pushed onto its source's latest-wins queue (`augur_runtime::control::ingest`). A
//! malformed message is counted and warned about at most once a second per topic.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use augur_runtime::control::image::check_size;
use augur_runtime::control::{
    FrameSender, ImageError, ObservationMap, Preprocessor, RawImage, Sample, SampleSender,
    SensorView, SourceKind,
};
use serde::Serialize;

use super::record::NodeRecorder;
use crate::msg::{
    CompressedImage, Image, Imu, JointState, Message, Odometry, PointStamped, Quaternion, Vector3,
};
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
        SourceKind::Image | SourceKind::CompressedImage => {
            unreachable!("camera sources are subscribed by subscribe_camera")
        }
    })
}

/// Raw camera frames are recorded at most this often (every frame of a 500x500 rgb8
/// camera at 20 Hz would be 15 MB/s); the model's preprocessed input is recorded every
/// cycle, which is what replay needs.
pub const RAW_FRAME_RECORD_INTERVAL: Duration = Duration::from_secs(1);

/// One camera source: decode (compressed), check, preprocess into the frame hand-off,
/// then a feature-less sample so the control thread sees the source's age (and an
/// observation trigger fires).
pub struct CameraIngest {
    /// Index of the source.
    pub index: usize,
    /// Topic, for warnings.
    pub topic: String,
    /// The source's sample queue (timing only).
    pub sender: SampleSender,
    /// Where preprocessed frames go.
    pub frames: FrameSender,
    /// The model's view of a frame.
    pub preprocessor: Preprocessor,
    /// Frames with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// The node's recorder, if it records.
    pub recorder: Option<Arc<NodeRecorder>>,
    last_recorded: Option<Instant>,
    last_stamp: Option<crate::msg::Time>,
    warn: RateLimitedWarning,
}

impl CameraIngest {
    /// A camera ingest for source `index` on `topic`.
    pub fn new(
        index: usize,
        topic: &str,
        sender: SampleSender,
        frames: FrameSender,
        preprocessor: Preprocessor,
        max_pixels: u64,
        recorder: Option<Arc<NodeRecorder>>,
    ) -> CameraIngest {
        CameraIngest {
            index,
            topic: topic.to_string(),
            sender,
            frames,
            preprocessor,
            max_pixels,
            recorder,
            last_recorded: None,
            last_stamp: None,
            warn: RateLimitedWarning::new(topic),
        }
    }

    /// Takes one raw frame. Allocates nothing once the preprocessor has seen the
    /// frame size (the message itself was decoded by the transport).
    pub fn raw(&mut self, image: &Image, received: Instant) -> Result<(), ImageError> {
        if self.repeated(&image.header) {
            return Ok(());
        }
        let raw = RawImage {
            height: image.height,
            width: image.width,
            encoding: &image.encoding,
            step: image.step,
            data: &image.data,
        };
        self.preprocessor
            .process(&raw, self.max_pixels, self.frames.frame_mut())?;
        self.last_stamp = Some(image.header.stamp);
        self.accept(received);
        Ok(())
    }

    /// Takes one compressed frame (jpeg or png): its size is read from the header and
    /// checked against the pixel limit before anything is decoded; decoding allocates
    /// the decoded frame.
    pub fn compressed(
        &mut self,
        image: &CompressedImage,
        received: Instant,
    ) -> Result<(), ImageError> {
        if self.repeated(&image.header) {
            return Ok(());
        }
        let decoded = decode_compressed(&image.format, &image.data, self.max_pixels)?;
        let (width, height) = decoded.dimensions;
        let raw = RawImage {
            height,
            width,
            encoding: decoded.encoding,
            step: width * if decoded.encoding == "mono8" { 1 } else { 3 },
            data: &decoded.pixels,
        };
        self.preprocessor
            .process(&raw, self.max_pixels, self.frames.frame_mut())?;
        self.last_stamp = Some(image.header.stamp);
        self.accept(received);
        Ok(())
    }

    /// A frame with the same (non-zero) stamp as the previous one is the same frame
    /// sent again (a lock-step plant re-publishing): it still counts as the source
    /// being alive, but is not stacked a second time, which would read as the scene
    /// standing still. Its stamp is remembered only once it was accepted.
    fn repeated(&mut self, header: &crate::msg::Header) -> bool {
        let stamp = header.stamp;
        let zero = stamp.sec == 0 && stamp.nanosec == 0;
        if !zero && self.last_stamp == Some(stamp) {
            self.sender.push(Sample {
                source: self.index,
                received: Instant::now(),
                values: [0.0; augur_runtime::control::observation::MAX_FEATURES],
                mask: 0,
            });
            return true;
        }
        false
    }

    fn accept(&mut self, received: Instant) {
        self.frames.publish(received);
        self.sender.push(Sample {
            source: self.index,
            received,
            values: [0.0; augur_runtime::control::observation::MAX_FEATURES],
            mask: 0,
        });
    }

    fn record<M: Message + Serialize>(&mut self, message: &M, info: &Received) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let due = self
            .last_recorded
            .is_none_or(|t| info.received_at.duration_since(t) >= RAW_FRAME_RECORD_INTERVAL);
        if !due {
            return;
        }
        self.last_recorded = Some(info.received_at);
        let stamp = info
            .source_timestamp
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64);
        recorder.write(&self.topic, stamp, message);
    }

    fn refused(&self, reason: &str) {
        self.sender.malformed();
        self.warn.warn(reason);
    }
}

/// A compressed frame decoded to rgb8 or mono8.
pub struct DecodedImage {
    /// Width, height.
    pub dimensions: (u32, u32),
    /// `rgb8` or `mono8`.
    pub encoding: &'static str,
    /// Tightly packed rows.
    pub pixels: Vec<u8>,
}

/// Decodes a `CompressedImage` body. The codec is the one `format` names
/// (image_transport's `"rgb8; jpeg compressed bgr8"`, or just `jpeg` / `png`); an
/// empty format is read by its magic bytes. The size in the header is checked against
/// `max_pixels` first, and the decoder may allocate no more than the frame needs, so a
/// decompression bomb is refused without being inflated.
pub fn decode_compressed(
    format: &str,
    data: &[u8],
    max_pixels: u64,
) -> Result<DecodedImage, ImageError> {
    use image::ImageFormat;
    let lower = format.to_ascii_lowercase();
    let codec = if lower.contains("jpeg") || lower.contains("jpg") {
        ImageFormat::Jpeg
    } else if lower.contains("png") {
        ImageFormat::Png
    } else if lower.trim().is_empty() {
        match image::guess_format(data) {
            Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
            _ => {
                return Err(ImageError::Decode {
                    format: "compressed",
                    reason: "empty `format` and the data is neither jpeg nor png".into(),
                })
            }
        }
    } else {
        return Err(ImageError::UnsupportedFormat {
            format: format.chars().take(64).collect(),
        });
    };
    let name = if codec == ImageFormat::Jpeg {
        "jpeg"
    } else {
        "png"
    };
    let fail = |e: image::ImageError| ImageError::Decode {
        format: name,
        reason: e.to_string(),
    };
    let reader = |limits: image::io::Limits| {
        let mut r = image::io::Reader::with_format(std::io::Cursor::new(data), codec);
        r.limits(limits);
        r
    };
    let (width, height) = reader(image::io::Limits::default())
        .into_dimensions()
        .map_err(fail)?;
    check_size(width, height, max_pixels)?;
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // The frame at 4 bytes a pixel plus the decoder's working rows.
    limits.max_alloc = Some(width as u64 * height as u64 * 8 + (1 << 20));
    let decoded = reader(limits).decode().map_err(fail)?;
    let grey = matches!(
        decoded.color(),
        image::ColorType::L8
            | image::ColorType::L16
            | image::ColorType::La8
            | image::ColorType::La16
    );
    Ok(if grey {
        DecodedImage {
            dimensions: (width, height),
            encoding: "mono8",
            pixels: decoded.into_luma8().into_raw(),
        }
    } else {
        DecodedImage {
            dimensions: (width, height),
            encoding: "rgb8",
            pixels: decoded.into_rgb8().into_raw(),
        }
    })
}

/// Subscribes camera source `ingest.index` (raw or compressed) on `topic` with the
/// sensor-data QoS (best effort, which also receives from a reliable publisher, as
/// camera drivers publish).
pub fn subscribe_camera(
    transport: &Transport,
    topic: &str,
    kind: SourceKind,
    mut ingest: CameraIngest,
) -> anyhow::Result<Subscription> {
    let qos = &TopicQos::SENSOR_DATA;
    Ok(match kind {
        SourceKind::Image => {
            transport.subscribe_bounded::<Image, _>(topic, qos, move |message, info| {
                let _span = tracing::trace_span!("ingest", source = ingest.index).entered();
                let result = message.map_err(|e| e.to_string()).and_then(|image| {
                    ingest.record(&image, &info);
                    ingest
                        .raw(&image, info.received_at)
                        .map_err(|e| e.to_string())
                });
                if let Err(reason) = result {
                    ingest.refused(&reason);
                }
            })?
        }
        SourceKind::CompressedImage => transport.subscribe_bounded::<CompressedImage, _>(
            topic,
            qos,
            move |message, info| {
                let _span = tracing::trace_span!("ingest", source = ingest.index).entered();
                let result = message.map_err(|e| e.to_string()).and_then(|image| {
                    ingest.record(&image, &info);
                    ingest
                        .compressed(&image, info.received_at)
                        .map_err(|e| e.to_string())
                });
                if let Err(reason) = result {
                    ingest.refused(&reason);
                }
            },
        )?,
        other => anyhow::bail!("{topic}: {} is not a camera type", other.ros_type()),
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
