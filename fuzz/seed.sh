#!/usr/bin/env bash
# Seed each target's corpus from the test data kept in the repository.
set -euo pipefail
cd "$(dirname "$0")"
data=../tests/data
seed() { mkdir -p "corpus/$1"; shift_target=$1; shift; for f in "$@"; do [ -f "$f" ] && cp "$f" "corpus/$shift_target/$(basename "$f")"; done; return 0; }
seed dsse_envelope $data/shared/dsse/valid/* $data/shared/dsse/invalid/*
seed sbom $(find $data/shared -iname '*cdx*.json' -o -iname '*spdx*.json' -o -iname '*sbom*.json' | head -50)
seed osv_advisory $(find $data/shared/osv -name '*.json' | head -200)
mkdir -p corpus/osv_zip
( cd "$data/shared/osv" && python3 - "$OLDPWD/corpus/osv_zip/seed.zip" <<'PY'
import sys, zipfile, glob
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for p in sorted(glob.glob("*/*.json"))[:20]:
        z.write(p)
PY
)
for f in ../plugins/*/gatehouse-plugin.toml; do
  mkdir -p corpus/plugin_manifest && cp "$f" "corpus/plugin_manifest/$(basename "$(dirname "$f")").toml"
done
mkdir -p corpus/config_file
cat > corpus/config_file/full.toml <<'TOML'
listen = "127.0.0.1:8420"
body_limit_bytes = 1048576
upload_limit_bytes = 16777216
request_timeout_ms = 30000
max_connections = 512
policy_time_limit_ms = 250
webhook_url = "http://hooks.example:8080/in?team=pay"
require_signed_plugins = false
[evidence_thresholds]
"https://slsa.dev/provenance/v1" = 2
[[bindings]]
id = "tests-before-dev"
check = "policy:baseline.tests"
gate = { stage = "dev", kind = "entry" }
TOML
mkdir -p corpus/request_route
printf 'GET /v1/applications?limit=5&after=3' > corpus/request_route/list
printf 'POST /v1/applications/shop/versions/1.0.0%%2Bbuild/promote' > corpus/request_route/promote
printf 'GET /v1/applications/shop/versions/1.0.0/evidence?verified=true&predicate_type=https%%3A%%2F%%2Fslsa.dev' > corpus/request_route/evidence
mkdir -p corpus/rego_messages
printf '["no tests", {"msg": "unsigned", "rule_id": "S-1", "title": "t", "remediation": "sign it"}]' > corpus/rego_messages/mixed
printf '{"msg": "not a set"}' > corpus/rego_messages/object
printf '[{"rule_id": "X"}, 3, null]' > corpus/rego_messages/bad_items
echo "corpora seeded under fuzz/corpus/"
