//! The per-sample attachment rmw_zenoh puts on every publication: sequence number,
//! source timestamp and publisher GID, in zenoh-ext's serialisation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::zenoh::bytes::ZBytes;
use zenoh_ext::z_serialize;

use super::GID_SIZE;

/// Nanoseconds since the Unix epoch, system clock.
pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Length of the keyed layout of rmw_zenoh < 0.2.4: three keys with their 1-byte
/// LEB128 lengths, two i64 and the GID with its length.
const LEGACY_LEN: usize = (1 + 15) + 8 + (1 + 16) + 8 + (1 + 10) + (1 + GID_SIZE);

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
        // Both layouts have a fixed length: anything longer is refused before it is
        // copied out of zenoh's buffers.
        if bytes.len() > LEGACY_LEN {
            return None;
        }
        Attachment::parse_bytes(&bytes.to_bytes())
    }

    /// [`Attachment::parse`] on plain bytes. Both layouts are matched byte for byte
    /// (lengths and keys included), so a length prefix claiming more than the
    /// attachment holds is refused without being allocated.
    pub fn parse_bytes(bytes: &[u8]) -> Option<Attachment> {
        if bytes.len() == Self::LEN {
            // i64 LE, i64 LE, LEB128 16, 16 bytes.
            let (sequence, rest) = bytes.split_first_chunk::<8>()?;
            let (stamp, rest) = rest.split_first_chunk::<8>()?;
            let (&gid_len, gid) = rest.split_first()?;
            return (usize::from(gid_len) == GID_SIZE).then(|| Attachment {
                sequence_number: i64::from_le_bytes(*sequence),
                source_timestamp_ns: i64::from_le_bytes(*stamp),
                gid: gid.try_into().expect("length checked"),
            });
        }
        if bytes.len() != LEGACY_LEN {
            return None;
        }
        let rest = key(bytes, "sequence_number")?;
        let (sequence, rest) = rest.split_first_chunk::<8>()?;
        let rest = key(rest, "source_timestamp")?;
        let (stamp, rest) = rest.split_first_chunk::<8>()?;
        let rest = key(rest, "source_gid")?;
        let (&gid_len, gid) = rest.split_first()?;
        (usize::from(gid_len) == GID_SIZE).then(|| Attachment {
            sequence_number: i64::from_le_bytes(*sequence),
            source_timestamp_ns: i64::from_le_bytes(*stamp),
            gid: gid.try_into().expect("length checked"),
        })
    }

    /// The source timestamp as a `SystemTime`, if it is a time after the epoch.
    pub fn source_time(&self) -> Option<SystemTime> {
        let nanos = u64::try_from(self.source_timestamp_ns).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
    }
}

/// The rest of `bytes` after the zenoh-ext string `name` (1-byte LEB128 length, then
/// the text), or `None` if `bytes` does not start with it.
fn key<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let (&len, rest) = bytes.split_first()?;
    (usize::from(len) == name.len()).then_some(())?;
    rest.strip_prefix(name.as_bytes())
}
