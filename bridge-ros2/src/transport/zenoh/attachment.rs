//! The per-sample attachment rmw_zenoh puts on every publication: sequence number,
//! source timestamp and publisher GID, in zenoh-ext's serialisation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::zenoh::bytes::ZBytes;
use zenoh_ext::{z_deserialize, z_serialize};

use super::GID_SIZE;

/// Nanoseconds since the Unix epoch, system clock.
pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The per-sample metadata rmw_zenoh attaches to every publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment {
    pub sequence_number: i64,
    /// Nanoseconds since the Unix epoch, system clock.
    pub source_timestamp_ns: i64,
    pub gid: [u8; GID_SIZE],
}

impl Attachment {
    /// Encoded length: two i64 and a 16-byte array with its 1-byte LEB128 length.
    pub const LEN: usize = 8 + 8 + 1 + GID_SIZE;

    /// The zenoh-ext serialisation rmw_zenoh >= 0.2.4 (Jazzy) / 0.6.0 (Kilted) uses:
    /// `(i64, i64, [u8; 16])`, i.e. i64 LE, i64 LE, then the GID as a sequence
    /// (LEB128 length 16, 16 bytes).
    pub fn encode(&self) -> ZBytes {
        z_serialize(&(self.sequence_number, self.source_timestamp_ns, self.gid))
    }

    /// Parses the current layout, or the keyed layout of rmw_zenoh < 0.2.4
    /// (`"sequence_number", i64, "source_timestamp", i64, "source_gid", bytes`).
    pub fn parse(bytes: &ZBytes) -> Option<Attachment> {
        if let Ok((sequence_number, source_timestamp_ns, gid)) =
            z_deserialize::<(i64, i64, [u8; GID_SIZE])>(bytes)
        {
            return Some(Attachment {
                sequence_number,
                source_timestamp_ns,
                gid,
            });
        }
        let (k1, sequence_number, k2, source_timestamp_ns, k3, gid) =
            z_deserialize::<(String, i64, String, i64, String, [u8; GID_SIZE])>(bytes).ok()?;
        (k1 == "sequence_number" && k2 == "source_timestamp" && k3 == "source_gid").then_some(
            Attachment {
                sequence_number,
                source_timestamp_ns,
                gid,
            },
        )
    }

    /// The source timestamp as a `SystemTime`, if it is a time after the epoch.
    pub fn source_time(&self) -> Option<SystemTime> {
        let nanos = u64::try_from(self.source_timestamp_ns).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
    }
}
