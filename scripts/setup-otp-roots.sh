#!/usr/bin/env bash
# Builds the OTP test matrix of design.md ("Tests against real nodes"): minimal Debian roots whose
# erlang-nox and elixir are newer than the host's. Idempotent: a root that is complete is left alone.
#
#   scripts/setup-otp-roots.sh [ROOT_BASE]        (default /opt/erldist-otp)
#
# Prints, on its last line, the ERLDIST_TEST_RUNTIMES value for the host plus each root.
set -euo pipefail

base="${1:-${ERLDIST_OTP_ROOTS:-/opt/erldist-otp}}"
suites="${ERLDIST_OTP_SUITES:-trixie sid}"
mirror="${ERLDIST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need debootstrap; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

mount_if_needed() {
  local root=$1
  # erl needs /proc (and /dev/urandom via crypto); nodes share the host's loopback.
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
}

runtimes=""
for suite in $suites; do
  root="$base/$suite"
  if [ ! -f "$root/.erldist-ready" ]; then
    echo "== building $suite root in $root" >&2
    mkdir -p "$root"
    if [ ! -x "$root/usr/bin/apt-get" ]; then
      # A half-finished debootstrap cannot be resumed: start over.
      rm -rf "${root:?}"/* 2>/dev/null || true
      debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2 ||
        debootstrap --variant=minbase --no-check-gpg "$suite" "$root" "$mirror" >&2
    fi
    mount_if_needed "$root"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    # The mirror may serve a frozen snapshot whose Release files are past Valid-Until.
    chroot "$root" apt-get -o Acquire::Check-Valid-Until=false update -q >&2
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      erlang-nox elixir >&2
    chroot "$root" erl -noshell -eval 'io:format("~s~n",[erlang:system_info(otp_release)]), halt().' >&2
    touch "$root/.erldist-ready"
  fi
  mount_if_needed "$root"
  runtimes="$runtimes;chroot $root"
done
echo "$runtimes"
