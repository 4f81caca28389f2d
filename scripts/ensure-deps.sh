#!/usr/bin/env bash
# Installs what the demo and the tests need when it is missing: Dovecot (IMAP
# server), curl (README examples), a C compiler (the `ring` crypto crate) and make
# (jemalloc, the gateway's allocator, builds with configure + make). With
# ENSURE_SERVERS=1 (scripts/test.sh) also what the cross-server suite needs beside
# Dovecot, Cyrus's and Courier's supporting packages, Dovecot's submission service
# (the SMTP server the send tests submit to), and Chromium for the browser test. Their IMAP daemons themselves
# (cyrus-imapd, courier-imap) conflict with dovecot-imapd and are never installed:
# the test harness fetches them with `apt-get download` and unpacks them privately.
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
if [ "${ENSURE_SERVERS:-0}" = 1 ]; then
  for package in cyrus-common sasl2-bin courier-base courier-authlib courier-authdaemon \
    courier-authlib-userdb gamin util-linux dovecot-submissiond; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q ' installed$' || missing+=("$package")
  done
  # The browser test drives the reference web inbox in headless Chromium.
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # The contract test installs schemathesis and openapi-spec-validator from PyPI into
  # virtual environments (tests/contract.rs).
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing missing packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: nothing that could replace dovecot-imapd comes along.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is not installed. Install it with rustup (https://rustup.rs): curl -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
