//! The robot's side of the wire on every bench: one participant that publishes the
//! plant's `JointState` to the node and receives the node's `Float64MultiArray`
//! commands. `augur sim` (the pendulum as a second participant), `augur bench-node`
//! (the robot streaming states) and `augur hil` (the plant behind the fault proxy)
//! all open it; dropping it takes the plant off the network, as a plant process
//! exiting does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use augur_bridge_ros2::msg::{Float64MultiArray, Header, Image, JointState, Time};
use augur_bridge_ros2::transport::{
    Publisher, Subscription, TopicQos, Transport, TransportError, TransportOptions,
};

/// A command as the plant received it.
#[derive(Clone, Debug)]
pub struct ReceivedCommand {
    /// The command's values (the pendulum's: one torque).
    pub values: Vec<f64>,
    /// When the plant's participant took it from the transport.
    pub received_at: Instant,
}

/// The plant's participant, its state publisher and (optionally) its command
/// subscription.
pub struct PlantLink {
    states: Publisher<JointState>,
    // A camera plant's frames (`PlantLink::with_camera`).
    images: Option<Publisher<Image>>,
    _commands: Option<Subscription>,
    received: Arc<AtomicU64>,
    // Last: the participant outlives its publisher and subscription.
    transport: Arc<Transport>,
}

impl PlantLink {
    /// Opens a participant publishing states on `state_topic` (sensor-data QoS).
    /// With `command_topic`, every command arriving there is handed to `on_command`
    /// on a transport thread.
    pub fn open(
        options: &TransportOptions,
        state_topic: &str,
        command_topic: Option<&str>,
        mut on_command: impl FnMut(ReceivedCommand) + Send + 'static,
    ) -> Result<PlantLink, TransportError> {
        let transport = Arc::new(Transport::open(options)?);
        let received = Arc::new(AtomicU64::new(0));
        let commands = match command_topic {
            Some(topic) => {
                let received = received.clone();
                Some(transport.subscribe::<Float64MultiArray, _>(
                    topic,
                    &TopicQos::COMMANDS,
                    move |message, at| {
                        if let Ok(message) = message {
                            received.fetch_add(1, Ordering::Relaxed);
                            on_command(ReceivedCommand {
                                values: message.data,
                                received_at: at.received_at,
                            });
                        }
                    },
                )?)
            }
            None => None,
        };
        let states = transport.publisher::<JointState>(state_topic, &TopicQos::SENSOR_DATA)?;
        Ok(PlantLink {
            states,
            images: None,
            _commands: commands,
            received,
            transport,
        })
    }

    /// Adds a camera: `sensor_msgs/Image` frames on `topic`, published reliable, as
    /// camera drivers publish (REP-2003).
    pub fn with_camera(mut self, topic: &str) -> Result<PlantLink, TransportError> {
        self.images = Some(
            self.transport
                .publisher::<Image>(topic, &TopicQos::DEFAULT)?,
        );
        Ok(self)
    }

    /// Publishes one camera frame (nothing without [`PlantLink::with_camera`]).
    pub fn publish_image(&self, image: &Image) -> Result<(), TransportError> {
        match &self.images {
            Some(p) => p.publish(image),
            None => Ok(()),
        }
    }

    /// The participant, for the bench's other subscriptions (`~/predicted_path`).
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// Publishes one state.
    pub fn publish(&self, state: &JointState) -> Result<(), TransportError> {
        self.states.publish(state)
    }

    /// Commands received so far.
    pub fn commands_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Calls `probe` (which publishes) every `every` until `commands` commands have come back
    /// (discovery done both ways and the model loaded), or fails after `timeout`.
    /// `alive` is asked before each probe, so a node process that exited ends the
    /// wait at once with its error.
    pub fn wait_for_commands(
        &self,
        commands: u64,
        timeout: Duration,
        every: Duration,
        probe: impl Fn() -> anyhow::Result<()>,
        mut alive: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let until = Instant::now() + timeout;
        let start = self.commands_received();
        while self.commands_received() < start + commands {
            alive()?;
            if Instant::now() > until {
                bail!(
                    "the node did not command within {:.0} s of the plant publishing",
                    timeout.as_secs_f64()
                );
            }
            probe()?;
            std::thread::sleep(every);
        }
        Ok(())
    }
}

/// A `JointState` of `names`, stamped `stamp` (no efforts).
pub fn joint_state(
    stamp: Time,
    names: Vec<String>,
    position: Vec<f64>,
    velocity: Vec<f64>,
) -> JointState {
    JointState {
        header: Header {
            stamp,
            frame_id: String::new(),
        },
        name: names,
        position,
        velocity,
        effort: vec![],
    }
}
