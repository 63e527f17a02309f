//! `augur-hil transport-echo` (hidden): the transport floor for `augur bench-node
//! --echo`. A process that subscribes to camera frames exactly as the node does
//! (`subscribe_bounded`, sensor-data QoS, the frame deserialised whole) and answers
//! each one at once with a one-value command, doing nothing else. The robot's round
//! trip through it is what the transport alone costs: the frame's serialisation,
//! fragmentation, both loopback hops, reassembly and decode, and the command back.

use std::io::Read;

use anyhow::Context as _;
use augur_bridge_ros2::msg::{Float64MultiArray, Image};
use augur_bridge_ros2::transport::{TopicQos, Transport, TransportKind, TransportOptions};

/// Arguments of `augur-hil transport-echo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transport.
    #[arg(long, value_enum, default_value = "dds")]
    pub transport: TransportKind,
    /// zenoh endpoint to connect to (`tcp/127.0.0.1:PORT`).
    #[arg(long)]
    pub zenoh_connect: Option<String>,
    /// Topic of the frames.
    #[arg(long)]
    pub camera: String,
    /// Topic of the answers.
    #[arg(long)]
    pub command: String,
}

/// Echoes until standard input closes (the bench holds it open).
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut options = TransportOptions::local(args.transport, "augur_transport_echo");
    options.zenoh_connect = args.zenoh_connect.into_iter().collect();
    let transport = Transport::open(&options).context("opening the echo's transport")?;
    let commands = transport.publisher::<Float64MultiArray>(&args.command, &TopicQos::COMMANDS)?;
    let _frames = transport.subscribe_bounded::<Image, _>(
        &args.camera,
        &TopicQos::SENSOR_DATA,
        move |frame, _| {
            let value = frame.map_or(f64::NAN, |f| f.width as f64);
            let _ = commands.publish(&Float64MultiArray {
                layout: Default::default(),
                data: vec![value],
            });
        },
    )?;
    // Standard input is the bench's pipe: it closes when the bench is done or gone.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
