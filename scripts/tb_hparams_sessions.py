#!/usr/bin/env python3
"""List the HParams sessions TensorBoard finds under a log dir.

Uses TensorBoard's own readers (the event multiplexer the server uses and
the HParams plugin's protobufs), so a test can check that a sweep folder
shows one session per trial in the HParams dashboard:

    python3 scripts/tb_hparams_sessions.py SWEEP_DIR

prints JSON {"<run>": {"<hparam>": value, ...}, ...}: one entry per
TensorBoard run (a folder of event files) that starts an HParams session.
"""
import json
import sys

from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins.hparams import metadata, plugin_data_pb2


def value_of(v):
    kind = v.WhichOneof("kind")
    return getattr(v, kind) if kind else None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tb_hparams_sessions.py LOGDIR")
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(sys.argv[1])
    mux.Reload()
    sessions = {}
    contents = mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    for run, tags in sorted(contents.items()):
        start = tags.get(metadata.SESSION_START_INFO_TAG)
        if start is None:
            continue
        data = plugin_data_pb2.HParamsPluginData.FromString(start)
        info = data.session_start_info
        sessions[run] = {k: value_of(v) for k, v in info.hparams.items()}
    print(json.dumps(sessions, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
