#!/usr/bin/env bash
# Regenerate the console's screenshots in docs/console/: the browser test
# saves a picture of each page it visits as it walks the flow.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/browser/install.sh
cargo build --locked -p gatehouse-host --bin gatehouse
GATEHOUSE_SCREENSHOTS="$PWD/docs/console" cargo test --locked -p gatehouse-e2e --test console_browser
ls -1 docs/console/*.png
