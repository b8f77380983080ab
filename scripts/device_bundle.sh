#!/usr/bin/env bash
# Builds what scripts/device_check.sh needs on a GPU machine that has no Rust
# toolchain and no network, into .device/ (git-ignored):
#   .device/bin.tar.xz   the stripped release binary and the stripped
#                        release test executable of tests/mel_parity.rs
#   .device/gl/*.deb     Debian's Vulkan loader and GL dispatch libraries,
#                        unpacked there only when the machine lacks them
# Then, with the device tool: carry [".device"] and run
#   bash scripts/device_check.sh --device vulkan --torch-device cuda
# The working tree plus .device must stay under the tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.device
rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/gl"

cargo build --release --locked
# The test executable comes from the same release build of the dependencies.
exe=$(cargo test --release --locked --no-run --test mel_parity --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "mel_parity" and m.get("executable"):
        print(m["executable"])')
[ -n "$exe" ] || { echo "no mel_parity test executable" >&2; exit 1; }
strip -o "$bundle/bin/soundclass" target/release/soundclass
strip -o "$bundle/bin/mel_parity" "$exe"
tar -C "$bundle" -cJf "$bundle/bin.tar.xz" bin && rm -rf "$bundle/bin"

# The loader as the device tool's README says: amd64 packages from Debian.
lists=$(mktemp -d)
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
mkdir -p "$lists/partial"
apt-get "${apt_opts[@]}" update -qq
(cd "$bundle/gl" && apt-get "${apt_opts[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
rm -rf "$lists"

du -sh "$bundle"/* >&2
tree_bytes=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
bundle_bytes=$(du -sb "$bundle" | cut -f1)
total_mib=$(( (tree_bytes + bundle_bytes) / 1048576 ))
echo "working tree + bundle: ${total_mib} MiB (the device tool carries at most 64)" >&2
[ "$total_mib" -lt 64 ] || { echo "too large to carry" >&2; exit 1; }
