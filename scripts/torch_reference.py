#!/usr/bin/env python3
"""PyTorch reference for `soundclass bench train`: the same CNN, the same
batch, the same step (forward, cross-entropy, backward, AdamW step), timed
the same way (median of N steps after 3 warm-ups).

The network mirrors src/model/cnn.rs layer for layer: BatchNorm over Mel
bins at the input, `blocks` conv blocks (cnn4: 3x3 conv + BN + ReLU + 2x2
max pool; cnn6: 5x5 conv + BN + ReLU + 2x2 avg pool; cnn10: two 3x3 convs
+ BN + ReLU, avg pool), channels width * 2^i, dropout after each block,
mean over frequency, max + mean over time, dropout, linear + ReLU,
dropout, linear.

Usage (shapes from the same config soundclass reads):
  python3 scripts/torch_reference.py --config configs/cnn.toml [--set k=v ...]
      [--device cpu|cuda] [--threads N] [--steps 20] [--json]
Prints clips/s; `--json` prints a JSON object like `bench train --json`.

Inference mode, the PyTorch side of `soundclass predict`'s benchmark:
  python3 scripts/torch_reference.py --config RUN/config.toml --infer LIST [--hop S]
reads the files named in LIST (one path per line; 16-bit PCM WAV), and for
each decodes it, resamples it to audio.sample_rate (torchaudio), cuts
windows of audio.clip_seconds every --hop seconds (the last flush with the
end; short files loop-padded), computes log-Mel with torchaudio and runs the
same network (random weights: this measures speed) in eval mode, batched by
training.batch_size; prints files/s and audio-seconds/s, like `predict`.
Requires: torch (CPU wheel is enough), torchaudio and numpy for --infer;
tomllib (Python >= 3.11).
"""

import argparse
import json
import statistics
import sys
import time
import tomllib

import torch
from torch import nn


PRESETS = {
    # n_fft, hop, n_mels, sample rate implied (see src/config.rs presets)
    "librosa": dict(n_fft=2048, hop_length=512, n_mels=128, center=True, sample_rate=22050),
    "panns": dict(n_fft=1024, hop_length=320, n_mels=64, center=True, sample_rate=32000),
}


def load_config(path, sets):
    cfg = {}
    if path:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    for item in sets:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        try:
            value = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            pass
        node = cfg.setdefault(section, {})
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


def shapes(cfg):
    spec = cfg.get("spectrogram", {})
    preset = PRESETS.get(spec.get("preset", "librosa"), PRESETS["librosa"])
    audio = cfg.get("audio", {})
    rate = audio.get("sample_rate", preset["sample_rate"])
    n_fft = spec.get("n_fft", preset["n_fft"])
    hop = spec.get("hop_length", preset["hop_length"])
    n_mels = spec.get("n_mels", preset["n_mels"])
    center = spec.get("center", preset["center"])
    samples = round(audio.get("clip_seconds", 10.0) * rate)
    frames = 1 + samples // hop if center else 1 + (samples - n_fft) // hop
    model = cfg.get("model", {})
    training = cfg.get("training", {})
    return dict(
        arch=model.get("arch", "cnn6"),
        width=model.get("width", 64),
        blocks=model.get("blocks", 4),
        dropout=model.get("dropout", 0.2),
        batch=training.get("batch_size", 32),
        lr=training.get("lr", 1e-3),
        frames=frames,
        n_mels=n_mels,
    )


class Block(nn.Module):
    def __init__(self, c_in, c_out, kernel, layers, max_pool):
        super().__init__()
        mods = []
        for i in range(layers):
            mods += [nn.Conv2d(c_in if i == 0 else c_out, c_out, kernel, padding=kernel // 2, bias=False),
                     nn.BatchNorm2d(c_out), nn.ReLU()]
        mods.append(nn.MaxPool2d(2) if max_pool else nn.AvgPool2d(2))
        self.body = nn.Sequential(*mods)

    def forward(self, x):
        return self.body(x)


class SoundCnn(nn.Module):
    def __init__(self, arch, width, blocks, dropout, n_mels, n_classes):
        super().__init__()
        kernel, layers, max_pool = {"cnn4": (3, 1, True), "cnn6": (5, 1, False), "cnn10": (3, 2, False)}[arch]
        self.input_norm = nn.BatchNorm2d(n_mels)
        channels = [width << min(i, 5) for i in range(max(blocks, 1))]
        ins = [1] + channels[:-1]
        self.blocks = nn.ModuleList(Block(i, o, kernel, layers, max_pool) for i, o in zip(ins, channels))
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(channels[-1], channels[-1])
        self.output = nn.Linear(channels[-1], n_classes)

    def forward(self, mels):  # [batch, frames, mels]
        x = mels.unsqueeze(1)  # [B, 1, T, M]
        x = self.input_norm(x.transpose(1, 3)).transpose(1, 3)
        for block in self.blocks:
            x = self.dropout(block(x))
        x = x.mean(dim=3)  # over frequency -> [B, C, T]
        x = x.max(dim=2).values + x.mean(dim=2)
        x = torch.relu(self.hidden(self.dropout(x)))
        return self.output(self.dropout(x))


def read_wav(path):
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise SystemExit(f"{path}: --infer reads 16-bit PCM WAV only")
    x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return rate, x.reshape(-1, channels).mean(axis=1)


def windows_of(x, window, hop):
    """soundclass's evaluation windows: every hop while a window fits, the
    last flush with the end; a short clip loop-padded to one window."""
    if len(x) <= window:
        reps = -(-window // max(len(x), 1))
        return x.repeat(reps)[:window].unsqueeze(0) if len(x) else torch.zeros(1, window)
    starts = list(range(0, len(x) - window + 1, hop))
    if starts[-1] != len(x) - window:
        starts.append(len(x) - window)
    return torch.stack([x[s:s + window] for s in starts])


def infer(args, cfg, s):
    import torchaudio

    audio, spec = cfg.get("audio", {}), cfg.get("spectrogram", {})
    rate = audio.get("sample_rate", 22050)
    window = round(audio.get("clip_seconds", 10.0) * rate)
    hop = round((args.hop or cfg.get("training", {}).get("eval_hop_seconds", 1.0)) * rate)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=rate, n_fft=spec.get("n_fft", 2048), win_length=spec.get("win_length"),
        hop_length=spec.get("hop_length", 512), f_min=spec.get("fmin", 0.0), f_max=spec.get("fmax"),
        n_mels=s["n_mels"], center=True, pad_mode=spec.get("pad_mode", "reflect"), power=2.0,
        norm="slaney", mel_scale="slaney")
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)
    model = SoundCnn(s["arch"], s["width"], s["blocks"], s["dropout"], s["n_mels"], 4).eval()
    paths = [line.strip() for line in open(args.infer) if line.strip()]
    started = time.perf_counter()
    audio_seconds, pending, labels = 0.0, [], []

    def run(batch):
        with torch.no_grad():
            labels.extend(model(torch.stack(batch)).argmax(dim=1).tolist())

    for path in paths:
        file_rate, x = read_wav(path)
        x = torch.from_numpy(x)
        if file_rate != rate:
            x = torchaudio.functional.resample(x, file_rate, rate)
        audio_seconds += len(x) / rate
        for w in windows_of(x, window, hop):
            pending.append(to_db(mel(w)).T)  # [frames, mels]
            if len(pending) == s["batch"]:
                run(pending)
                pending = []
    if pending:
        run(pending)
    wall = time.perf_counter() - started
    out = dict(files=len(paths), windows=len(labels), audio_seconds=audio_seconds, wall_seconds=wall,
               files_per_second=len(paths) / wall, audio_seconds_per_second=audio_seconds / wall,
               device=f"torch {torch.__version__} cpu, {torch.get_num_threads()} threads")
    print(json.dumps(out, indent=2) if args.json else
          f"{out['files']} files, {out['windows']} windows, {audio_seconds:.0f} s of audio in {wall:.1f} s: "
          f"{out['files_per_second']:.1f} files/s, {out['audio_seconds_per_second']:.0f} audio-s/s ({out['device']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = torch's default)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--infer", help="file listing audio paths: time inference instead of training")
    ap.add_argument("--hop", type=float, help="--infer: window hop, seconds (default: eval_hop_seconds)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.set)
    s = shapes(cfg)
    if args.infer:
        return infer(args, cfg, s)
    if s["arch"] not in ("cnn4", "cnn6", "cnn10"):
        sys.exit(f"torch_reference.py mirrors cnn4/cnn6/cnn10, not {s['arch']}")
    torch.manual_seed(42)
    device = torch.device(args.device)
    classes = 4
    model = SoundCnn(s["arch"], s["width"], s["blocks"], s["dropout"], s["n_mels"], classes).to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=1e-4)
    x = torch.randn(s["batch"], s["frames"], s["n_mels"], device=device)
    y = torch.arange(s["batch"], device=device) % classes
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for step in range(args.steps + 3):
        start = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optim.step()
        loss.item()  # synchronises CUDA
        if step >= 3:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    out = dict(arch=s["arch"], device=f"torch {torch.__version__} {args.device}, {torch.get_num_threads()} threads",
               parameters=sum(p.numel() for p in model.parameters()), batch_size=s["batch"],
               frames=s["frames"], n_mels=s["n_mels"], steps=len(times),
               median_step_ms=1e3 * median, clips_per_second=s["batch"] / median)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['arch']} on {out['device']}: batch {out['batch_size']} x {out['frames']} frames x "
              f"{out['n_mels']} mels, {out['clips_per_second']:.1f} clips/s forward+backward+step "
              f"(median of {out['steps']} steps, {out['median_step_ms']:.1f} ms/step), "
              f"{out['parameters']} parameters")


if __name__ == "__main__":
    main()
