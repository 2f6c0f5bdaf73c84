#!/usr/bin/env bash
# Run every target (or those in TARGETS) for SECONDS (default 600), JOBS at a time (default 2),
# after `bash seed.sh` and `RUSTC_BOOTSTRAP=1 cargo fuzz build -s none -a`.
# Logs go to logs/TARGET.log; the summary names each target's runs, speed,
# coverage and whether it found a crash (saved under artifacts/TARGET/).
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
JOBS=${JOBS:-2}
mkdir -p logs
targets=${TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^gatehouse-fuzz$')}
run() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  # The binaries `cargo fuzz build` made, run as they are: `cargo fuzz run`
  # would rebuild from a working tree that may have changed meanwhile.
  "target/x86_64-unknown-linux-gnu/release/$t" "corpus/$t" \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="artifacts/$t/" > "logs/$t.log" 2>&1
  echo "$t exit=$?"
}
export -f run
export SECONDS_EACH
printf '%s\n' $targets | xargs -P "$JOBS" -I{} bash -c 'run {}'
for t in $targets; do
  done_line=$(grep -E '^Done [0-9]+ runs' "logs/$t.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "logs/$t.log" | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "$t: ${done_line:-no Done line (crashed?)} ${cov} crash files: $crashes"
done
