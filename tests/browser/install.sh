#!/usr/bin/env bash
# What the browser tests need (tests/tests/console_browser.rs): Debian's
# Chromium and playwright-core from npm (tests/browser/package-lock.json).
# Playwright never downloads a browser of its own here; it drives
# /usr/bin/chromium. Does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is not installed; as root: apt-get install chromium" >&2
    exit 1
  fi
  apt-get update -qq
  # With its recommended packages (fonts among them), as the tests were run.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi
