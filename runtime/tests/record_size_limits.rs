//! A recording whose length fields claim far more than the file holds is refused
//! before anything that size is allocated: a chunk index that claims a terabyte of
//! uncompressed chunk makes `Recording::messages` fail with `ChunkTooLarge`, and the
//! reading thread's peak heap stays within a small multiple of the file.

use std::collections::BTreeMap;

use augur_runtime::heap::{peak_heap, PeakHeap};
use augur_runtime::record::{
    ChannelQos, Recorder, RecorderOptions, Recording, Schema, MAX_RECORD_BYTES,
};

#[global_allocator]
static GLOBAL: PeakHeap = PeakHeap;

const SCHEMA: Schema = Schema {
    name: "std_msgs/msg/String",
    definition: "string data\n",
};

/// A small, valid, zstd-chunked recording.
fn recording() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.mcap");
    let mut recorder = Recorder::create(&path, RecorderOptions::default()).unwrap();
    let channel = recorder
        .add_channel("/chatter", &SCHEMA, &ChannelQos::reliable(10))
        .unwrap();
    for i in 0..50u64 {
        let mut cdr = vec![0, 1, 0, 0, 6, 0, 0, 0];
        cdr.extend_from_slice(b"hello\0");
        recorder.write(channel, 1_000 + i, 1_000 + i, &cdr).unwrap();
    }
    recorder
        .write_metadata("augur.run", BTreeMap::from([("k".into(), "v".into())]))
        .unwrap();
    recorder.finish().unwrap();
    std::fs::read(&path).unwrap()
}

/// Sets the uncompressed size of every chunk index in the summary section to
/// `claim`, and clears the summary CRC (0: not computed) so the summary still reads.
fn claim_uncompressed(bytes: &mut [u8], claim: u64) -> usize {
    const MAGIC: usize = 8;
    // Footer: opcode, u64 length, summary_start, summary_offset_start, summary_crc.
    let footer = bytes.len() - MAGIC - (1 + 8 + 8 + 8 + 4);
    assert_eq!(bytes[footer], 0x02, "footer opcode");
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let summary_start = u64_at(bytes, footer + 9) as usize;
    bytes[footer + 25..footer + 29].copy_from_slice(&0u32.to_le_bytes());
    let mut at = summary_start;
    let mut patched = 0;
    while at < footer {
        let opcode = bytes[at];
        let len = u64_at(bytes, at + 1) as usize;
        let end = at + 9 + len;
        if opcode == 0x08 {
            // ChunkIndex: uncompressed_size is its last field.
            bytes[end - 8..end].copy_from_slice(&claim.to_le_bytes());
            patched += 1;
        }
        at = end;
    }
    patched
}

#[test]
fn a_chunk_claiming_a_terabyte_is_refused_without_allocating_it() {
    let valid = recording();
    let (count, _) = peak_heap(|| {
        let recording = Recording::from_bytes("valid.mcap".as_ref(), valid.clone()).unwrap();
        recording.messages().filter(Result::is_ok).count()
    });
    assert_eq!(count, 50, "the unpatched recording reads back");

    let mut crafted = valid.clone();
    assert!(
        claim_uncompressed(&mut crafted, 1 << 40) > 0,
        "no chunk index"
    );
    let file_len = crafted.len() as i64;
    let (results, peak) = peak_heap(|| {
        let recording = Recording::from_bytes("crafted.mcap".as_ref(), crafted).unwrap();
        recording.messages().collect::<Vec<_>>()
    });
    assert_eq!(results.len(), 1, "one error, then the iterator ends");
    let error = results[0].as_ref().expect_err("refused").to_string();
    assert!(error.contains("crafted.mcap"), "{error}");
    assert!(error.contains("indexing the messages"), "{error}");
    // The file itself (moved in), its summary and indexes: a few times its size.
    assert!(
        peak < 4 * file_len + (256 << 10),
        "peak heap {peak} bytes reading a {file_len}-byte file"
    );

    // Just over the limit: refused the same way, before the 256 MiB are allocated.
    let mut over = valid.clone();
    claim_uncompressed(&mut over, MAX_RECORD_BYTES as u64 + 1);
    let (first, peak) = peak_heap(|| {
        let recording = Recording::from_bytes("over.mcap".as_ref(), over).unwrap();
        recording.messages().next().map(|r| r.is_err())
    });
    assert_eq!(first, Some(true));
    assert!(peak < 4 * file_len + (256 << 10), "peak heap {peak} bytes");
}
