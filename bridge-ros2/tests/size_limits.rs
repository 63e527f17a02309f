//! Length fields that claim gigabytes are refused without allocating them: CDR
//! sequences and strings in every subscribed message type, and the string lengths of
//! rmw_zenoh's keyed attachment. A thread-local peak-heap allocator measures what
//! decoding each crafted payload allocated. (The wire-level test, crafted payloads
//! from rclpy and from zenoh counted in `/diagnostics` with resident memory flat, is
//! `node_interop.rs`'s safety-path test; the MCAP one is in the runtime's tests.)

use augur_bridge_ros2::fuzz::Target;
use augur_bridge_ros2::transport::zenoh::Attachment;
use augur_runtime::heap::{peak_heap, PeakHeap};

#[global_allocator]
static GLOBAL: PeakHeap = PeakHeap;

fn u32le(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

/// Encapsulation header, a `std_msgs/Header` with an empty frame id.
fn header() -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    b.extend(u32le(7));
    b.extend(u32le(0));
    b.extend(u32le(1));
    b.extend([0, 0, 0, 0]);
    b
}

#[test]
fn cdr_length_fields_claiming_gigabytes_are_refused_without_allocating() {
    let names_claim = [header(), u32le(u32::MAX).to_vec()].concat();
    let string_claim = [
        header(),
        u32le(1).to_vec(),
        u32le(0xFFFF_FFF0).to_vec(),
        b"pend".to_vec(),
    ]
    .concat();
    let frame_claim = [
        vec![0, 1, 0, 0],
        u32le(7).to_vec(),
        u32le(0).to_vec(),
        u32le(0xFFFF_FFFF).to_vec(),
    ]
    .concat();
    let mut one_name = [
        header(),
        u32le(1).to_vec(),
        u32le(3).to_vec(),
        b"ab\0".to_vec(),
    ]
    .concat();
    one_name.resize(one_name.len().next_multiple_of(4), 0);
    let doubles_claim = [one_name, u32le(0x7FFF_FFFF).to_vec(), vec![0; 16]].concat();
    let big_endian_claim = [
        vec![0, 0, 0, 0],
        7u32.to_be_bytes().to_vec(),
        0u32.to_be_bytes().to_vec(),
        0xFFFF_FFF0u32.to_be_bytes().to_vec(),
    ]
    .concat();

    let cases: [(&str, Target, &[u8]); 8] = [
        ("JointState.name count", Target::CdrJointState, &names_claim),
        (
            "JointState.name[0] length",
            Target::CdrJointState,
            &string_claim,
        ),
        (
            "JointState.position count",
            Target::CdrJointState,
            &doubles_claim,
        ),
        (
            "JointState frame_id length",
            Target::CdrJointState,
            &frame_claim,
        ),
        ("Imu frame_id length", Target::CdrImu, &frame_claim),
        (
            "Odometry frame_id length",
            Target::CdrOdometry,
            &frame_claim,
        ),
        (
            "PointStamped frame_id (BE)",
            Target::CdrPointStamped,
            &big_endian_claim,
        ),
        ("Clock, short", Target::CdrClock, &frame_claim[..6]),
    ];
    for (what, target, payload) in cases {
        let (accepted, peak) = peak_heap(|| target.run(payload));
        assert!(!accepted, "{what}: accepted");
        assert!(
            peak < 4096,
            "{what}: decoding allocated {peak} bytes at its peak"
        );
    }
}

#[test]
fn attachment_string_lengths_claiming_exabytes_are_refused_without_allocating() {
    // The keyed layout of rmw_zenoh < 0.2.4, with the first key's LEB128 length
    // claiming 2^63 bytes: zenoh-ext's own deserialiser reserves the claimed length
    // (a capacity-overflow panic on the zenoh callback thread); the fuzz target
    // found it, and `Attachment::parse` now matches the layout byte for byte.
    let mut claim = vec![0xFF; 9];
    claim.push(0x01);
    claim.extend(b"sequence_number");
    claim.resize(77, 0);
    let (parsed, peak) = peak_heap(|| Attachment::parse_bytes(&claim));
    assert_eq!(parsed, None);
    assert_eq!(peak, 0, "parsing allocated {peak} bytes");

    // Both real layouts still parse, and allocate nothing either.
    let real = Attachment {
        sequence_number: 3,
        source_timestamp_ns: 1_764_700_000_000_000_000,
        gid: [9; 16],
    };
    let bytes = real.encode().to_bytes().into_owned();
    let (parsed, peak) = peak_heap(|| Attachment::parse_bytes(&bytes));
    assert_eq!(parsed, Some(real));
    assert_eq!(peak, 0);
}
