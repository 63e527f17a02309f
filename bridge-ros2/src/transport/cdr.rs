//! CDR payloads as ROS 2 puts them on the wire: a 4-byte encapsulation header
//! (`00 01 00 00` for little-endian plain CDR) followed by the serde-encoded body.

use byteorder::{BigEndian, LittleEndian};
use serde::{de::DeserializeOwned, Serialize};

/// Encapsulation header for plain CDR, little endian (what rmw_zenoh and rclpy send on x86/ARM).
pub const CDR_LE_HEADER: [u8; 4] = [0x00, 0x01, 0x00, 0x00];
/// Encapsulation identifier for plain CDR, big endian.
const CDR_BE_ID: [u8; 2] = [0x00, 0x00];
/// Encapsulation identifier for plain CDR, little endian.
const CDR_LE_ID: [u8; 2] = [0x00, 0x01];

/// Why a payload could not be turned into a message or back.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("payload of {len} bytes is shorter than the 4-byte CDR encapsulation header")]
    TooShort { len: usize },
    #[error(
        "unsupported CDR encapsulation {id:02x?} (only plain CDR, 00 00 or 00 01, is supported)"
    )]
    Encapsulation { id: [u8; 2] },
    #[error("{0}")]
    Body(#[from] cdr_encoding::Error),
}

/// Serialises `value` as little-endian plain CDR with its encapsulation header.
///
/// Allocates one `Vec` sized for the encoded message.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CdrError> {
    let mut payload = Vec::with_capacity(64);
    payload.extend_from_slice(&CDR_LE_HEADER);
    cdr_encoding::to_writer::<T, LittleEndian, _>(&mut payload, value)?;
    Ok(payload)
}

/// Parses a CDR payload with its encapsulation header, either byte order.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CdrError> {
    if payload.len() < 4 {
        return Err(CdrError::TooShort { len: payload.len() });
    }
    let id = [payload[0], payload[1]];
    let body = &payload[4..];
    let (value, _consumed) = match id {
        CDR_LE_ID => cdr_encoding::from_bytes::<T, LittleEndian>(body)?,
        CDR_BE_ID => cdr_encoding::from_bytes::<T, BigEndian>(body)?,
        _ => return Err(CdrError::Encapsulation { id }),
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Float64MultiArray, Header, JointState, Time};

    #[test]
    fn joint_state_matches_rosbags_bytes() {
        // Produced by rosbags 0.11.9 `serialize_cdr` (ROS2_JAZZY typestore) for the same message.
        let expected = "0001000001000000020000000500000062617365000000000100000002000000\
                        610000000100000000000000000000000000f83f0000000000000000";
        let message = JointState {
            header: Header {
                stamp: Time { sec: 1, nanosec: 2 },
                frame_id: "base".into(),
            },
            name: vec!["a".into()],
            position: vec![1.5],
            velocity: vec![],
            effort: vec![],
        };
        let bytes = encode(&message).expect("encodes");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        assert_eq!(decode::<JointState>(&bytes).expect("decodes"), message);
    }

    #[test]
    fn truncated_and_foreign_payloads_are_errors() {
        assert!(matches!(
            decode::<Float64MultiArray>(&[0, 1]),
            Err(CdrError::TooShort { len: 2 })
        ));
        assert!(matches!(
            decode::<Float64MultiArray>(&[0, 7, 0, 0, 1, 2, 3, 4]),
            Err(CdrError::Encapsulation { id: [0, 7] })
        ));
        let mut bytes = encode(&Float64MultiArray {
            data: vec![1.0, 2.0],
            ..Default::default()
        })
        .expect("encodes");
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(
            decode::<Float64MultiArray>(&bytes),
            Err(CdrError::Body(_))
        ));
    }
}
