#!/usr/bin/env python3
"""Verify a TensorBoard log dir written by soundclass's Rust EventWriter.

Usage: check_tensorboard_events.py LOGDIR [--expect-json FILE]

Checks, with TensorBoard's own readers (no TensorFlow needed):
  1. framing: every event file under LOGDIR (top level only, i.e. one run) is
     a clean sequence of TFRecords with valid masked CRC32Cs, parsed by an
     independent strict reader here, and TensorBoard's RawEventFileLoader
     yields the same number of records (it stops silently on corruption);
     the first event is file_version "brain.Event:2";
  2. with --expect-json, the content, via EventAccumulator (size_guidance 0 =
     keep everything) plus the migrated events from EventFileLoader:
     scalars (exact tag set, steps, values at f32 precision), images (tag,
     step, decodable PNG of the stated size/channels), text (tag, step,
     string), hparams (experiment lists the hparams with the right types and
     the metric tags; session_start_info holds the values; session_end_info
     says STATUS_SUCCESS; metric scalars have the given values).

Expected JSON:
  {"scalars": {"tag": [[step, value], ...]},
   "images":  {"tag": {"step": 0, "width": 32, "height": 16, "channels": 3}},
              (or "steps": [1, 3] for an image logged more than once; the
              size is checked on the last one)
   "texts":   {"tag": {"step": 0, "text": "..."}},
   "hparams": {"hparams": {"lr": 0.001, "arch": "cnn6", "mixup": true},
               "metrics": {"hparam/val_accuracy": 0.8}}}

Exits 0 when everything matches, 1 with one line per mismatch otherwise.
"""

import argparse
import glob
import io
import json
import math
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import api_pb2, metadata as hp_metadata
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.summary.writer.record_writer import masked_crc32c
from tensorboard.util import tensor_util

ERRORS = []


def fail(msg):
    ERRORS.append(msg)


def close(a, b):
    # Scalars are stored as f32 (simple_value), so compare at f32 precision.
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-7)


def strict_records(path):
    """Yields record payloads; any framing/CRC problem is reported."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            fail(f"{path}: truncated record header at byte {pos}")
            return
        (length,) = struct.unpack_from("<Q", data, pos)
        (len_crc,) = struct.unpack_from("<I", data, pos + 8)
        if masked_crc32c(data[pos : pos + 8]) != len_crc:
            fail(f"{path}: bad length CRC at byte {pos}")
            return
        end = pos + 12 + length
        if end + 4 > len(data):
            fail(f"{path}: truncated record at byte {pos}")
            return
        payload = data[pos + 12 : end]
        (data_crc,) = struct.unpack_from("<I", data, end)
        if masked_crc32c(payload) != data_crc:
            fail(f"{path}: bad data CRC at byte {pos}")
            return
        yield payload
        pos = end + 4


def check_framing(logdir):
    """Returns (event files, raw un-migrated events from all of them)."""
    files = sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")))
    all_events = []
    if not files:
        fail(f"{logdir}: no events.out.tfevents.* files")
        return files, all_events
    for path in files:
        events = []
        for payload in strict_records(path):
            ev = event_pb2.Event()
            ev.ParseFromString(payload)
            events.append(ev)
        if not events:
            fail(f"{path}: no events")
            continue
        if events[0].file_version != "brain.Event:2":
            fail(f"{path}: first event is not file_version brain.Event:2: {events[0]}")
        for i, ev in enumerate(events):
            if not ev.wall_time > 1e9:
                fail(f"{path}: event {i} has implausible wall_time {ev.wall_time}")
        n_tb = sum(1 for _ in event_file_loader.RawEventFileLoader(path).Load())
        if n_tb != len(events):
            fail(f"{path}: TensorBoard read {n_tb} records, strict reader {len(events)}")
        print(f"framing ok: {os.path.basename(path)} ({len(events)} events)")
        all_events.extend(events)
    return files, all_events


def migrated_values(files):
    """(tag, step, Summary.Value) after TensorBoard's data/dataclass compat."""
    out = []
    for path in files:
        for ev in event_file_loader.EventFileLoader(path).Load():
            if ev.HasField("summary"):
                out.extend((v.tag, ev.step, v) for v in ev.summary.value)
    return out


def plugin_content(acc, plugin_name):
    """{tag: content bytes} for a plugin; empty when it has no data."""
    try:
        return acc.PluginTagToContent(plugin_name)
    except KeyError:
        return {}


def check_scalars(acc, expected, metric_tags):
    got_tags = set(acc.Tags()["scalars"])
    want_tags = set(expected) | metric_tags
    if got_tags != want_tags:
        fail(f"scalar tags: got {sorted(got_tags)}, expected {sorted(want_tags)}")
    for tag, points in expected.items():
        if tag not in got_tags:
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        if [s for s, _ in got] != [s for s, _ in points]:
            fail(f"scalar {tag}: steps {[s for s, _ in got]}, expected {[s for s, _ in points]}")
            continue
        for (step, v), (_, want) in zip(got, points):
            if not close(v, want):
                fail(f"scalar {tag} step {step}: got {v}, expected {want}")


def check_images(acc, raw_events, expected):
    from PIL import Image  # Pillow ships with tensorboard's usual installs

    got_tags = set(acc.Tags()["images"])
    if got_tags != set(expected):
        fail(f"image tags: got {sorted(got_tags)}, expected {sorted(expected)}")
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
    for tag, want in expected.items():
        if tag not in got_tags:
            continue
        events = acc.Images(tag)
        want_steps = want["steps"] if "steps" in want else [want["step"]]
        if [e.step for e in events] != want_steps:
            fail(f"image {tag}: steps {[e.step for e in events]}, expected {want_steps}")
            continue
        e = events[-1]
        if (e.width, e.height) != (want["width"], want["height"]):
            fail(f"image {tag}: metadata size {e.width}x{e.height}, expected {want['width']}x{want['height']}")
        try:
            img = Image.open(io.BytesIO(e.encoded_image_string))
            img.load()  # forces full decode, so a corrupt IDAT is caught
        except Exception as exc:  # noqa: BLE001 - any decode error is a mismatch
            fail(f"image {tag}: PNG does not decode: {exc}")
            continue
        if img.format != "PNG" or img.size != (want["width"], want["height"]):
            fail(f"image {tag}: decoded {img.format} {img.size}, expected PNG {(want['width'], want['height'])}")
        if img.mode != modes.get(want["channels"]):
            fail(f"image {tag}: mode {img.mode}, expected {modes.get(want['channels'])}")
        # colorspace (channel count) is dropped by TensorBoard's migration, so
        # read it from the raw Summary.Image.
        spaces = [v.image.colorspace for ev in raw_events for v in ev.summary.value
                  if v.tag == tag and v.HasField("image")]
        if spaces != [want["channels"]] * len(want_steps):
            fail(f"image {tag}: raw colorspace {spaces}, expected {want['channels']} each")


def check_texts(acc, values, expected):
    text_tags = set(plugin_content(acc, "text"))
    if text_tags != set(expected):
        fail(f"text tags: got {sorted(text_tags)}, expected {sorted(expected)}")
    for tag, want in expected.items():
        if tag not in text_tags:
            continue
        events = acc.Tensors(tag)
        if [e.step for e in events] != [want["step"]]:
            fail(f"text {tag}: steps {[e.step for e in events]}, expected [{want['step']}]")
            continue
        arr = tensor_util.make_ndarray(events[0].tensor_proto)
        strings = [b.decode("utf-8") for b in arr.reshape(-1)]
        if strings != [want["text"]]:
            fail(f"text {tag}: got {strings!r}, expected {[want['text']]!r}")
        # Also via the raw (migrated) value: the metadata must name the plugin.
        for vtag, _, v in values:
            if vtag == tag and v.metadata.plugin_data.plugin_name != "text":
                fail(f"text {tag}: plugin_name {v.metadata.plugin_data.plugin_name!r}")


def check_hparams(acc, expected):
    want_hp = expected.get("hparams", {})
    want_metrics = expected.get("metrics", {})
    content = plugin_content(acc, "hparams")
    tags = {hp_metadata.EXPERIMENT_TAG, hp_metadata.SESSION_START_INFO_TAG, hp_metadata.SESSION_END_INFO_TAG}
    if set(content) != tags:
        fail(f"hparams tags: got {sorted(content)}, expected {sorted(tags)}")
        return

    def parse(tag, field):
        data = plugin_data_pb2.HParamsPluginData()
        data.ParseFromString(content[tag])
        if data.version != hp_metadata.PLUGIN_DATA_VERSION:
            fail(f"{tag}: plugin data version {data.version}")
        if data.WhichOneof("data") != field:
            fail(f"{tag}: holds {data.WhichOneof('data')}, expected {field}")
        return getattr(data, field)

    def as_python(value):
        kind = value.WhichOneof("kind")
        return {"number_value": value.number_value, "string_value": value.string_value,
                "bool_value": value.bool_value}.get(kind, ("unsupported", kind))

    # session_start_info: names, kinds and values.
    ssi = parse(hp_metadata.SESSION_START_INFO_TAG, "session_start_info")
    got = {k: as_python(v) for k, v in ssi.hparams.items()}
    if set(got) != set(want_hp):
        fail(f"session_start_info hparams: got {sorted(got)}, expected {sorted(want_hp)}")
    for name, want in want_hp.items():
        if name not in got:
            continue
        g = got[name]
        # bool is a subclass of int in Python: compare types exactly.
        same = type(g) is type(want) if isinstance(want, (bool, str)) else (
            type(g) is float and close(g, want))
        if not same:
            fail(f"hparam {name}: got {g!r} ({type(g).__name__}), expected {want!r} ({type(want).__name__})")
    if not ssi.start_time_secs > 1e9:
        fail(f"session_start_info: implausible start_time_secs {ssi.start_time_secs}")

    # experiment: declares the same hparams with matching types, and the metrics.
    exp = parse(hp_metadata.EXPERIMENT_TAG, "experiment")
    types = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING,
             float: api_pb2.DATA_TYPE_FLOAT64, int: api_pb2.DATA_TYPE_FLOAT64}
    got_infos = {h.name: h.type for h in exp.hparam_infos}
    want_infos = {k: types[type(v)] for k, v in want_hp.items()}
    if got_infos != want_infos:
        fail(f"experiment hparam_infos: got {got_infos}, expected {want_infos}")
    got_metric_tags = [m.name.tag for m in exp.metric_infos]
    if sorted(got_metric_tags) != sorted(want_metrics):
        fail(f"experiment metric_infos: got {got_metric_tags}, expected {sorted(want_metrics)}")

    sei = parse(hp_metadata.SESSION_END_INFO_TAG, "session_end_info")
    if sei.status != api_pb2.STATUS_SUCCESS:
        fail(f"session_end_info: status {sei.status}, expected STATUS_SUCCESS")

    # The plugin reads metric values from scalar series with the metric tag.
    scalar_tags = set(acc.Tags()["scalars"])
    for tag, want in want_metrics.items():
        if tag not in scalar_tags:
            fail(f"metric {tag}: no scalar series")
            continue
        last = acc.Scalars(tag)[-1].value
        if not close(last, want):
            fail(f"metric {tag}: got {last}, expected {want}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logdir")
    ap.add_argument("--expect-json", help="expected content (see module docstring)")
    args = ap.parse_args()

    files, raw_events = check_framing(args.logdir)
    if files and args.expect_json:
        with open(args.expect_json, encoding="utf-8") as f:
            expected = json.load(f)
        size_guidance = {k: 0 for k in (ea.COMPRESSED_HISTOGRAMS, ea.IMAGES, ea.AUDIO,
                                        ea.SCALARS, ea.HISTOGRAMS, ea.TENSORS)}
        acc = ea.EventAccumulator(args.logdir, size_guidance=size_guidance)
        acc.Reload()
        # Metric scalars are scalars too; their values are checked with hparams.
        metric_tags = set(expected.get("hparams", {}).get("metrics", {}))
        check_scalars(acc, expected.get("scalars", {}), metric_tags)
        check_images(acc, raw_events, expected.get("images", {}))
        check_texts(acc, migrated_values(files), expected.get("texts", {}))
        if "hparams" in expected:
            check_hparams(acc, expected["hparams"])
        elif plugin_content(acc, "hparams"):
            fail("hparams data present but not expected")
        n_points = sum(len(v) for v in expected.get("scalars", {}).values())
        print(f"checked: {len(expected.get('scalars', {}))} scalar tags ({n_points} points), "
              f"{len(expected.get('images', {}))} images, {len(expected.get('texts', {}))} texts, "
              f"hparams {sorted(expected.get('hparams', {}).get('hparams', {}))} "
              f"metrics {sorted(expected.get('hparams', {}).get('metrics', {}))}")

    if ERRORS:
        for e in ERRORS:
            print(f"MISMATCH: {e}", file=sys.stderr)
        print(f"FAILED: {len(ERRORS)} mismatch(es) in {args.logdir}", file=sys.stderr)
        sys.exit(1)
    print(f"OK: {args.logdir}")


if __name__ == "__main__":
    main()
