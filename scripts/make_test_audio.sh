#!/usr/bin/env bash
# Regenerates the committed decoder fixtures in tests/data/formats/ and
# tests/data/bad/garbage_frames.mp3 with ffmpeg (apt-get install ffmpeg).
# Each format fixture is 0.5 s of a 440 Hz sine at 0.5 amplitude (lavfi sine is 1/8, times 4), 22050 Hz, mono.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/data/formats
mkdir -p "$out" tests/data/bad
src=(-f lavfi -i "sine=frequency=440:sample_rate=22050:duration=0.5" -af "volume=4" -ac 1 -ar 22050)
ff() { ffmpeg -hide_banner -loglevel error -y "${src[@]}" "$@"; }
ff -c:a pcm_u8 "$out/pcm_u8.wav"
ff -c:a pcm_s16le "$out/pcm_s16.wav"
ff -c:a pcm_s24le "$out/pcm_s24.wav"
ff -c:a pcm_s32le "$out/pcm_s32.wav"
ff -c:a pcm_f32le "$out/float32.wav"
ff -c:a flac "$out/tone.flac"
ff -c:a libvorbis -q:a 4 "$out/tone.ogg"
ff -c:a libmp3lame -b:a 64k "$out/tone.mp3"
ff -c:a aac -b:a 64k "$out/tone.m4a"
# An MP3 whose middle frames are overwritten with random bytes: a decoder
# must resynchronise and keep the rest.
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=22050:duration=3" \
  -ac 1 -c:a libmp3lame -b:a 64k tests/data/bad/garbage_frames.mp3
python3 - <<'PY'
import random
p = "tests/data/bad/garbage_frames.mp3"
data = bytearray(open(p, "rb").read())
rng = random.Random(7)
start = len(data) // 3
for i in range(start, start + 2000):
    data[i] = rng.randrange(256)
open(p, "wb").write(bytes(data))
PY
ls -l "$out" tests/data/bad
