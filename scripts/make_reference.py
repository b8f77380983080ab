#!/usr/bin/env python3
"""Writes the librosa reference files that the Log-Mel parity tests (tests/mel_parity.rs) read.

Run from anywhere (rerunnable; it overwrites its outputs and removes stale ones):

    pip install librosa soundfile numpy
    python3 scripts/make_reference.py [--out tests/data/reference]

Outputs (numpy .npy format v1.0, little-endian, C order) plus an index, reference.json
(also feat_<signal>_22050.npy: librosa's mfcc, spectral centroid, bandwidth, roll-off,
flatness, zero-crossing rate, rms, chroma_stft (estimated tuning), spectral contrast
(fmin 200, 6 bands, quantile 0.02) and onset strength per frame, rows named in
reference.json, with the clip's estimated tuning and feature.tempo beside them;
clicks100 / clicks143 are 10-s click tracks at those tempi for the tempo check):
  * fb_<name>.npy     librosa.filters.mel in float64, [n_mels, 1 + n_fft // 2], for the
                      librosa preset (22050 Hz, n_fft 2048, 128 mels, Slaney), the panns
                      preset (32000 Hz, n_fft 1024, 64 mels, 50-14000 Hz, Slaney) and an
                      HTK-scale / unnormalised bank (16000 Hz, n_fft 512, 40 mels);
  * signal_<name>_<sr>.npy
                      float32 1-D test signals, generated deterministically at each
                      sample rate a case needs: sine440 (1 s, 440 Hz, amplitude 0.5),
                      chirp (1.5 s, linear 50 Hz -> 0.45 sr, amplitude 0.5), noise (1 s,
                      white Gaussian, default_rng(0), std 0.1), short (the first 2500
                      samples of noise, an odd length for edge frames) and demo (the first
                      file of data/demo/clips/Music/, librosa.load(sr=sr, mono=True,
                      duration=2.0));
  * mel_<case>.npy    librosa.feature.melspectrogram (power 2, periodic Hann) computed in
                      float64 from the float32 signal AS STORED, so that Rust and librosa see
                      identical input; saved as float32 [n_mels, frames] (relative precision
                      6e-8, far inside the tests' 1e-4 bound) to keep the files small;
  * db_<case>.npy     librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0), computed in
                      float64, saved as float32 (error < 1e-5 dB against a 0.01 dB bound).

Spectrogram cases: the librosa and panns presets with pad_mode constant and reflect for
every signal; a custom 16000 Hz case (n_fft 1000, hop 250, win_length 800, 40 mels, HTK,
no norm) for sine440, chirp and noise; the librosa preset with center=False for chirp and
noise. Warnings that librosa raises are printed; a case librosa refuses is dropped and
reported.
"""
import argparse
import json
import warnings
from pathlib import Path

import librosa
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

LIBROSA = dict(preset="librosa", sr=22050, n_fft=2048, hop_length=512, win_length=2048, n_mels=128,
               fmin=0.0, fmax=None, htk=False, norm="slaney")
PANNS = dict(preset="panns", sr=32000, n_fft=1024, hop_length=320, win_length=1024, n_mels=64,
             fmin=50.0, fmax=14000.0, htk=False, norm="slaney")
CUSTOM = dict(preset="custom", sr=16000, n_fft=1000, hop_length=250, win_length=800, n_mels=40,
              fmin=0.0, fmax=8000.0, htk=True, norm=None)
DB = dict(power=2.0, ref=1.0, amin=1e-10, top_db=80.0)

FILTERBANKS = [
    dict(name="librosa", sr=22050, n_fft=2048, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney"),
    dict(name="panns", sr=32000, n_fft=1024, n_mels=64, fmin=50.0, fmax=14000.0, htk=False, norm="slaney"),
    dict(name="htk_nonorm", sr=16000, n_fft=512, n_mels=40, fmin=0.0, fmax=8000.0, htk=True, norm=None),
]

ALL_SIGNALS = ["sine440", "chirp", "noise", "short", "demo"]
# (preset, pad_mode, center, signals)
CASES = [
    (LIBROSA, "constant", True, ALL_SIGNALS),
    (LIBROSA, "reflect", True, ALL_SIGNALS),
    (PANNS, "constant", True, ALL_SIGNALS),
    (PANNS, "reflect", True, ALL_SIGNALS),
    (CUSTOM, "constant", True, ["sine440", "chirp", "noise"]),
    (LIBROSA, "constant", False, ["chirp", "noise"]),  # "nocenter"; pad_mode is unused
]

PATTERNS = ("fb_*.npy", "signal_*.npy", "mel_*.npy", "db_*.npy", "feat_*.npy", "reference.json")
# Frame-level hand-made features (librosa defaults: n_fft 2048, hop 512, centred),
# one row each in feat_<signal>_22050.npy, float64 [rows, frames].
FEATURE_ROWS = [f"mfcc{k:02d}" for k in range(1, 21)] + [
    "spectral_centroid", "spectral_bandwidth", "spectral_rolloff", "spectral_flatness", "zcr", "rms"] + [
    f"chroma{k:02d}" for k in range(1, 13)] + [f"spectral_contrast{k:02d}" for k in range(1, 8)] + [
    "onset_strength"]
# Signals with a clear beat for the tempo check: (name, bpm, seconds).
CLICK_TRACKS = [("clicks100", 100.0, 10.0), ("clicks143", 143.0, 10.0)]


def demo_path():
    files = sorted(p for p in (ROOT / "data/demo/clips/Music").iterdir() if p.is_file())
    return files[0]


def make_signal(name, sr):
    """float64 waveform before the float32 cast."""
    if name == "sine440":
        t = np.arange(int(round(sr * 1.0)), dtype=np.float64) / sr
        return 0.5 * np.sin(2.0 * np.pi * 440.0 * t)
    if name == "chirp":
        dur, f0, f1 = 1.5, 50.0, 0.45 * sr
        t = np.arange(int(round(sr * dur)), dtype=np.float64) / sr
        # Linear chirp, instantaneous frequency f0 + (f1 - f0) t / dur (scipy.signal.chirp's
        # 'linear' phase, with sin instead of cos so it starts at 0).
        return 0.5 * np.sin(2.0 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t))
    if name == "noise":
        return np.random.default_rng(0).normal(0.0, 0.1, int(round(sr * 1.0)))
    if name == "short":
        return make_signal("noise", sr)[:2500]
    if name == "demo":
        y, _ = librosa.load(demo_path(), sr=sr, mono=True, duration=2.0)
        return y
    for click_name, bpm, seconds in CLICK_TRACKS:
        if name == click_name:
            # Decaying 1 kHz bursts on the beat over quiet noise.
            n = int(round(sr * seconds))
            y = np.random.default_rng(1).normal(0.0, 0.005, n)
            burst_t = np.arange(int(0.03 * sr)) / sr
            burst = 0.6 * np.sin(2 * np.pi * 1000.0 * burst_t) * np.exp(-burst_t / 0.008)
            for start in np.arange(0.25, seconds, 60.0 / bpm):
                i = int(round(start * sr))
                j = min(n, i + burst.size)
                y[i:j] += burst[: j - i]
            return y
    raise ValueError(name)


def chroma_tuning(y, sr):
    """The tuning chroma_stft estimates: from the power spectrogram, not the magnitude
    that estimate_tuning(y=...) would use."""
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) ** 2
    return float(librosa.estimate_tuning(S=power, sr=sr, n_fft=2048, bins_per_octave=12))


def save(out, name, array, dtype):
    array = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    with open(out / name, "wb") as f:
        np.lib.format.write_array(f, array, version=(1, 0), allow_pickle=False)
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "tests/data/reference"),
                    help="output folder (default: tests/data/reference under the repo root)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for pattern in PATTERNS:
        for old in out.glob(pattern):
            old.unlink()

    index = {"librosa_version": librosa.__version__, "numpy_version": np.__version__,
             "filterbanks": [], "signals": [], "spectrograms": []}
    notes = []

    for fb_spec in FILTERBANKS:
        p = dict(fb_spec)
        name = p.pop("name")
        fb = librosa.filters.mel(**p, dtype=np.float64)
        index["filterbanks"].append({"name": name, "file": save(out, f"fb_{name}.npy", fb, np.float64), **p})

    # Signals: only those a case uses, each at its case's rate.
    stored = {}
    for p, _, _, names in CASES:
        sr = p["sr"]
        for name in names:
            if (name, sr) in stored:
                continue
            file = save(out, f"signal_{name}_{sr}.npy", make_signal(name, sr), np.float32)
            stored[(name, sr)] = file
            entry = {"name": name, "sr": sr, "file": file}
            if name == "demo":
                entry["source"] = demo_path().relative_to(ROOT).as_posix()
            index["signals"].append(entry)

    for p, pad, center, names in CASES:
        sr = p["sr"]
        for name in names:
            signal_file = stored[(name, sr)]
            y = np.load(out / signal_file).astype(np.float64)  # exactly the stored float32 values
            tag = f"{p['preset']}_{pad}_{'c' if center else 'nc'}_{name}_{sr}"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    mel = librosa.feature.melspectrogram(
                        y=y, sr=sr, n_fft=p["n_fft"], hop_length=p["hop_length"],
                        win_length=p["win_length"], window="hann", center=center, pad_mode=pad,
                        power=DB["power"], n_mels=p["n_mels"], fmin=p["fmin"], fmax=p["fmax"],
                        htk=p["htk"], norm=p["norm"], dtype=np.float64)
                    db = librosa.power_to_db(mel, ref=DB["ref"], amin=DB["amin"], top_db=DB["top_db"])
                except Exception as e:  # librosa refused the case: drop it, say so
                    notes.append(f"DROPPED {tag}: {type(e).__name__}: {e}")
                    continue
            for w in caught:
                notes.append(f"warning in {tag}: {w.category.__name__}: {w.message}")
            assert mel.dtype == np.float64 and mel.shape[0] == p["n_mels"], (tag, mel.dtype, mel.shape)
            index["spectrograms"].append({
                "signal": signal_file, **p, "center": center, "pad_mode": pad, **DB,
                "mel_file": save(out, f"mel_{tag}.npy", mel, np.float32),
                "db_file": save(out, f"db_{tag}.npy", db, np.float32)})

    index["features"] = []
    for name, _, _ in CLICK_TRACKS:
        file = save(out, f"signal_{name}_22050.npy", make_signal(name, 22050), np.float32)
        stored[(name, 22050)] = file
        index["signals"].append({"name": name, "sr": 22050, "file": file})
    for name in ("sine440", "chirp", "noise", "demo") + tuple(c[0] for c in CLICK_TRACKS):
        signal_file = stored[(name, 22050)]
        y = np.load(out / signal_file).astype(np.float64)
        sr = 22050
        rows = np.vstack([
            librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20),
            librosa.feature.spectral_centroid(y=y, sr=sr),
            librosa.feature.spectral_bandwidth(y=y, sr=sr),
            librosa.feature.spectral_rolloff(y=y, sr=sr, roll_percent=0.85),
            librosa.feature.spectral_flatness(y=y),
            librosa.feature.zero_crossing_rate(y),
            librosa.feature.rms(y=y),
            librosa.feature.chroma_stft(y=y, sr=sr),
            librosa.feature.spectral_contrast(y=y, sr=sr, fmin=200.0, n_bands=6, quantile=0.02),
            librosa.onset.onset_strength(y=y, sr=sr)[np.newaxis, :],
        ])
        assert rows.shape[0] == len(FEATURE_ROWS)
        tempo = float(librosa.feature.tempo(y=y, sr=sr)[0])
        clicks = dict((c[0], c[1]) for c in CLICK_TRACKS)
        index["features"].append({"signal": signal_file, "sr": sr, "rows": FEATURE_ROWS,
                                  "tempo": tempo, "clear_beat_bpm": clicks.get(name),
                                  "tuning": chroma_tuning(y, sr),
                                  "file": save(out, f"feat_{name}_{sr}.npy", rows, np.float64)})

    (out / "reference.json").write_text(json.dumps(index, indent=1) + "\n")

    files = sorted(f for f in out.iterdir() if f.is_file())
    size = sum(f.stat().st_size for f in files)
    print(f"librosa {librosa.__version__}, numpy {np.__version__}")
    for note in notes:
        print(note)
    if not notes:
        print("no librosa warnings, no dropped cases")
    print(f"{len(index['filterbanks'])} filterbanks, {len(index['signals'])} signals, "
          f"{len(index['spectrograms'])} spectrogram cases")
    print(f"{len(files)} files:")
    for f in files:
        shape = "" if f.suffix != ".npy" else f"  {np.load(f, mmap_mode='r').dtype} {np.load(f, mmap_mode='r').shape}"
        print(f"  {f.name:45s} {f.stat().st_size:>9d}{shape}")
    print(f"total {size} bytes ({size / 1e6:.2f} MB) in {out}")


if __name__ == "__main__":
    main()
