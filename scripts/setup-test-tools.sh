#!/usr/bin/env bash
# Installs the command-line tools that the test suite drives, when they are missing:
# slowhttptest (Debian package) plays slowloris and slow-body clients in test/ddos;
# clamd (Debian package clamav-daemon) scans uploads in test/upload. The upload tests start
# their own clamd with a signature database they generate, so freshclam is never run here.
# Run as root on Debian or Ubuntu; CI calls it before `npm test`.
set -euo pipefail

missing=()
command -v slowhttptest >/dev/null 2>&1 || missing+=(slowhttptest)
command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || missing+=(clamav-daemon)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-test-tools: apt-get not found; install ${missing[*]} by hand" >&2
  exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-test-tools: run as root, or install sudo, to install ${missing[*]}" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi

echo "setup-test-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
