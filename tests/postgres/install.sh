#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the tests that need a real one
# (tests/postgres makes a throwaway cluster with initdb and pg_ctl; nothing
# is started here). Does nothing when a server is already installed.
set -euo pipefail
if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then exit 0; fi
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "the PostgreSQL server is not installed; as root: apt-get install postgresql" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-client
