"""Reads an Augur MCAP recording with the `mcap` and `rosbags` Python packages and
prints what they see as one JSON document, for runtime/tests/record.rs to check.

Usage: read_recording.py FILE.mcap
"""

import dataclasses
import json
import math
import sys
import tempfile
from pathlib import Path

from mcap.reader import make_reader
from rosbags.highlevel import AnyReader
from rosbags.rosbag2.storage_mcap import McapReader


def plain(value):
    """A decoded rosbags message (dataclasses, numpy arrays) as JSON-ready values."""
    if dataclasses.is_dataclass(value):
        # __msgtype__ names the type; it is not a field of the message.
        return {
            f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "__msgtype__"
        }
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def read_with_mcap(path):
    with open(path, "rb") as f:
        reader = make_reader(f)
        header = reader.get_header()
        summary = reader.get_summary()
        stats = summary.statistics
        channels = [
            {
                "id": c.id,
                "topic": c.topic,
                "message_encoding": c.message_encoding,
                "metadata": dict(c.metadata),
                "schema_name": summary.schemas[c.schema_id].name,
                "schema_encoding": summary.schemas[c.schema_id].encoding,
                "schema_data": summary.schemas[c.schema_id].data.decode(),
            }
            for c in sorted(summary.channels.values(), key=lambda c: c.id)
        ]
        messages = [
            {
                "topic": channel.topic,
                "sequence": message.sequence,
                "log_time": message.log_time,
                "publish_time": message.publish_time,
                "data": message.data.hex(),
            }
            for _, channel, message in reader.iter_messages(log_time_order=True)
        ]
        return {
            "profile": header.profile,
            "library": header.library,
            "statistics": {
                "message_count": stats.message_count,
                "schema_count": stats.schema_count,
                "channel_count": stats.channel_count,
                "chunk_count": stats.chunk_count,
                "message_start_time": stats.message_start_time,
                "message_end_time": stats.message_end_time,
                "channel_message_counts": {str(k): v for k, v in stats.channel_message_counts.items()},
            },
            "chunk_indexes": len(summary.chunk_indexes),
            "message_index_records": sum(len(ci.message_index_offsets) for ci in summary.chunk_indexes),
            "chunk_compressions": sorted({ci.compression for ci in summary.chunk_indexes}),
            "channels": channels,
            "messages": messages,
        }


def qos_of(connection):
    return [
        {
            "history": q.history.name.lower(),
            "depth": q.depth,
            "reliability": q.reliability.name.lower(),
            "durability": q.durability.name.lower(),
            "liveliness": q.liveliness.name.lower(),
            "deadline": [q.deadline.sec, q.deadline.nsec],
            "avoid_ros_namespace_conventions": q.avoid_ros_namespace_conventions,
        }
        for q in connection.ext.offered_qos_profiles
    ]


def read_with_rosbags(path, mcap_view):
    # rosbags' own MCAP storage reader: parses the channel metadata's QoS itself.
    storage = McapReader(path)
    storage.open()
    try:
        storage_qos = {c.topic: qos_of(c) for c in storage.connections}
    finally:
        storage.close()

    # AnyReader opens rosbag2 bags, i.e. a directory with metadata.yaml beside the
    # .mcap, as `ros2 bag record` leaves them: build that directory around the file.
    stats = mcap_view["statistics"]
    counts = stats["channel_message_counts"]
    topics = [
        {
            "topic_metadata": {
                "name": c["topic"],
                "type": c["schema_name"],
                "serialization_format": c["message_encoding"],
                "offered_qos_profiles": c["metadata"].get("offered_qos_profiles", ""),
            },
            "message_count": counts.get(str(c["id"]), 0),
        }
        for c in mcap_view["channels"]
    ]
    metadata = {
        "rosbag2_bagfile_information": {
            "version": 8,
            "storage_identifier": "mcap",
            "relative_file_paths": [path.name],
            "duration": {"nanoseconds": stats["message_end_time"] - stats["message_start_time"]},
            "starting_time": {"nanoseconds_since_epoch": stats["message_start_time"]},
            "message_count": stats["message_count"],
            "topics_with_message_count": topics,
            "compression_format": "",
            "compression_mode": "",
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp, "bag")
        bag.mkdir()
        (bag / path.name).symlink_to(path.resolve())
        # JSON is YAML.
        (bag / "metadata.yaml").write_text(json.dumps(metadata))
        messages = []
        with AnyReader([bag]) as reader:
            for connection, timestamp, rawdata in reader.messages():
                messages.append(
                    {
                        "topic": connection.topic,
                        "msgtype": connection.msgtype,
                        "log_time": timestamp,
                        "message": plain(reader.deserialize(rawdata, connection.msgtype)),
                    }
                )
    return {"storage_qos": storage_qos, "messages": messages}


def main():
    path = Path(sys.argv[1])
    mcap_view = read_with_mcap(path)
    rosbags_view = read_with_rosbags(path, mcap_view)
    json.dump({"mcap": mcap_view, "rosbags": rosbags_view}, sys.stdout)


if __name__ == "__main__":
    main()
