#!/usr/bin/env bash
# Installs Erlang/OTP and Elixir from the distribution's packages (Debian/Ubuntu, as root).
# Idempotent: does nothing when `erl` and `elixir` are already on PATH.
set -euo pipefail
if command -v erl >/dev/null 2>&1 && command -v elixir >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends erlang-nox elixir
