#!/usr/bin/env bash
# Downloads the audio of AudioSet segments listed in a manifest written by
#   soundclass data import-audioset ... --keep-missing --out MANIFEST
# Each row with a missing file is fetched with yt-dlp (only the segment's
# section) and converted by ffmpeg to mono WAV at the rate given, written to
# the row's path (relative paths resolve against the manifest's folder).
# Rows whose file exists are skipped, so the script resumes after a stop;
# each file appears only when complete (written to a temporary name, then
# renamed). Failed downloads are listed at the end and do not stop the run.
#
# usage: scripts/audioset_download.sh [--dry-run] [--rate HZ] [--jobs N] MANIFEST
#   --dry-run   print the commands instead of running them
#   --rate      output sample rate (default 32000)
#   --jobs      parallel downloads (default 4)
# Needs: python3 (standard library, to read the CSV), yt-dlp and ffmpeg.
set -euo pipefail

dry_run=0
rate=32000
jobs=4
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --rate) rate="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--dry-run] [--rate HZ] [--jobs N] MANIFEST" >&2; exit 2; }
manifest="$1"
[ -f "$manifest" ] || { echo "$manifest: no such file" >&2; exit 2; }
root="$(cd "$(dirname "$manifest")" && pwd)"

# One tab-separated line per missing clip: ytid, start, end, absolute output path.
rows() {
  python3 - "$manifest" "$root" <<'PY'
import csv, os, sys
manifest, root = sys.argv[1], sys.argv[2]
with open(manifest, newline="") as f:
    reader = csv.DictReader(f)
    missing = [c for c in ("path", "ytid", "start_seconds", "end_seconds") if c not in (reader.fieldnames or [])]
    if missing:
        sys.exit(f"{manifest}: missing column(s) {', '.join(missing)}; write it with data import-audioset")
    for row in reader:
        path = row["path"] if os.path.isabs(row["path"]) else os.path.join(root, row["path"])
        if not os.path.exists(path):
            print("\t".join([row["ytid"], row["start_seconds"], row["end_seconds"], path]))
PY
}

command_for() {
  local ytid="$1" start="$2" end="$3" out="$4"
  local base="${out%.*}"
  printf 'mkdir -p %q && yt-dlp --quiet --no-playlist -f bestaudio -x --audio-format wav --download-sections %q -o %q %q && ffmpeg -hide_banner -loglevel error -y -i %q -ac 1 -ar %q %q && rm -f %q && mv %q %q\n' \
    "$(dirname "$out")" "*${start}-${end}" "${base}.dl.%(ext)s" "https://www.youtube.com/watch?v=${ytid}" \
    "${base}.dl.wav" "$rate" "${base}.tmp.wav" "${base}.dl.wav" "${base}.tmp.wav" "$out"
}

list="$(rows)"
if [ -z "$list" ]; then
  echo "nothing to download: every file in $manifest exists" >&2
  exit 0
fi
if [ "$dry_run" -eq 1 ]; then
  while IFS=$'\t' read -r ytid start end out; do
    command_for "$ytid" "$start" "$end" "$out"
  done <<<"$list"
  exit 0
fi
for tool in yt-dlp ffmpeg; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
failed="$(mktemp)"
while IFS=$'\t' read -r ytid start end out; do
  printf '%s\t%s\n' "$(command_for "$ytid" "$start" "$end" "$out")" "$ytid"
done <<<"$list" | xargs -P "$jobs" -d '\n' -I{} bash -c 'cmd="${1%	*}"; id="${1##*	}"; eval "$cmd" || echo "$id" >>"$2"' _ {} "$failed"
total=$(printf '%s\n' "$list" | wc -l)
nfail=$(wc -l <"$failed")
echo "downloaded $((total - nfail)) of $total segments; $nfail failed" >&2
[ "$nfail" -eq 0 ] || { echo "failed ids:" >&2; cat "$failed" >&2; }
rm -f "$failed"
