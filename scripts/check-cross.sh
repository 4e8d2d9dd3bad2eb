#!/bin/sh
# Prove the cross builds (spec 10 §3, §4): build jarvis-linux-arm64 (glibc) and jarvis-android-arm64 with the release
# flags, run the arm64 executable under qemu user emulation (`--version` and a real `models status --json` in a
# temp HOME), and check that the Android executable is an AArch64 PIE asking for the Android linker.
#
# Needs (Debian): apt-get install -y qemu-user-static libc6-arm64-cross binutils
#   (qemu-user works too; the sysroot can be moved with JARVIS_AARCH64_SYSROOT, default /usr/aarch64-linux-gnu).
# Cross-compiling downloads the Bun runtimes from the npm registry into Bun's install cache on first use.
# Exit: 0 all checks passed, 1 a check failed, 77 a tool is missing (nothing was built).
set -eu
cd "$(dirname "$0")/.."
BUN=./node_modules/.bin/bun
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
SYSROOT=${JARVIS_AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}

missing=""
[ -n "$QEMU" ] || missing="$missing qemu-user-static"
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || missing="$missing libc6-arm64-cross"
command -v readelf >/dev/null 2>&1 || missing="$missing binutils"
[ -x "$BUN" ] || missing="$missing (npm ci for $BUN)"
if [ -n "$missing" ]; then
  echo "SKIP: missing tools; install with: apt-get install -y$missing" >&2
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/jarvis-cross.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

version=$("$BUN" -e 'console.log(require("./package.json").version)')
bunver=$("$BUN" --version)
"$BUN" scripts/build.ts --release --targets bun-linux-arm64,bun-linux-arm64-android --outdir "$work/out" >&2

arm="$work/out/jarvis-linux-arm64"
got=$("$QEMU" -L "$SYSROOT" "$arm" --version) || fail "qemu run of $arm exited $?"
want="jarvis $version (bun $bunver, bun-linux-arm64)"
[ "$got" = "$want" ] || fail "arm64 --version printed '$got', expected '$want'"
echo "arm64 --version under $(basename "$QEMU"): $got"

mkdir -m 700 "$work/home"
doc=$(env -i HOME="$work/home" PATH=/usr/bin:/bin "$QEMU" -L "$SYSROOT" "$arm" models status --json) || fail "arm64 models status --json exited $?"
printf '%s\n' "$doc" | grep -q '"agentId": "main"' || fail "arm64 models status --json printed no status report"
echo "arm64 models status --json under $(basename "$QEMU"): ok"

android="$work/out/jarvis-android-arm64"
interp=$(readelf -l "$android" | grep 'Requesting program interpreter' | sed 's/^ *//') || true
[ "$interp" = "[Requesting program interpreter: /system/bin/linker64]" ] || fail "android interpreter is '$interp'"
echo "android-arm64 readelf -l: $interp"
header=$(readelf -h "$android")
printf '%s\n' "$header" | grep -q 'Machine: *AArch64' || fail "android executable is not AArch64"
printf '%s\n' "$header" | grep -q 'Type: *DYN' || fail "android executable is not position-independent (PIE)"
echo "android-arm64 readelf -h: AArch64, DYN (PIE)"
echo "cross checks passed"
