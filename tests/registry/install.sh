#!/usr/bin/env bash
# Install Debian's docker-registry (the CNCF distribution registry) for the
# tests that publish and pull plugins (tests/src/registry.rs starts a
# throwaway one on loopback; nothing is started here). Does nothing when it
# is already installed.
set -euo pipefail
if command -v docker-registry >/dev/null; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "the OCI registry is not installed; as root: apt-get install docker-registry" >&2
  exit 1
fi
apt-get update -qq
# The package enables a system service; nothing may start it here.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry
