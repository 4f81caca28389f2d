#!/usr/bin/env bash
# Installs what the demo and the tests need when it is missing: Dovecot (IMAP
# server), curl (README examples), a C compiler (the `ring` crypto crate) and make
# (jemalloc, the gateway's allocator, builds with configure + make).
# Sourced by scripts/demo.sh and scripts/test.sh. As root it runs apt-get; otherwise
# it says what to install and stops.
set -euo pipefail

missing=()
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing missing packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is not installed. Install it with rustup (https://rustup.rs): curl -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
