#!/usr/bin/env bash
# Writes a data directory with the binary of an earlier landed build, so that
# tests/tests/upgrade.rs can prove the current build opens, verifies and serves
# it. Kept beside the fixture it made (v1-9bf9947/): run it again only to make
# a fixture of a *new* format, into a new directory, never over an old one.
#
#   GATEHOUSE_BIN=path/to/old/gatehouse bash make-fixture.sh OUT_DIR
#
# FIXTURE=v2 (for builds from 19e2262 on) adds what that format brought: an
# approved waiver bound to the version digest and the checks it covers, and
# a Trusted Release rolled back (its signed withdrawal). v1-9bf9947 was made
# without it.
#
# FIXTURE=v3 (for builds from 96334f2 on) adds to v2 vulnerability findings as the
# sidecar stores them: the real python SBOM attached to inventory@3.1.0
# before an import of the real OSV advisories its expected pairs name (the
# import path), and the real npm SBOM attached to inventory@3.2.0 after it
# (the upload path). Run from a checkout: it reads tests/data/shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GATEHOUSE_BIN:?the gatehouse binary of the build whose format this fixture keeps}
out=${1:?output directory}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)
data="$out/data"
g() { "$bin" --data-dir "$data" --actor fixture-maker "$@"; }

g app create payments --project shop --criticality high --owner-user alice --label tier=backend >/dev/null
printf 'payments 1.0.0 release tarball\n' > "$work/payments.tar.gz"
printf 'payments 1.1.0 release tarball\n' > "$work/next.tar.gz"
digest=$(sha256sum "$work/payments.tar.gz" | cut -d' ' -f1)
next=$(sha256sum "$work/next.tar.gz" | cut -d' ' -f1)
g version create payments 1.0.0 --artifact "name=payments.tar.gz,kind=file,sha256=$digest" >/dev/null
g version create payments 1.1.0 --artifact "name=payments.tar.gz,kind=file,sha256=$next" >/dev/null

# Evidence signed by a trusted CI key (kept in the fixture: the test signs more with it).
g keys generate --out "$out/ci-key" >/dev/null
g keys trust --name ci --owner team-pay --public-key "$out/ci-key/ed25519.pub.pem" >/dev/null
echo '{"result": "PASSED", "passedTests": ["unit"]}' > "$work/result.json"
for f in payments.tar.gz next.tar.gz; do
  g evidence sign --key "$out/ci-key/ed25519.priv.pem" \
    --predicate-type https://in-toto.io/attestation/test-result/v0.1 --predicate "$work/result.json" \
    --subject "$work/$f" --out "$work/$f.dsse.json" >/dev/null
  g evidence add "$work/$f.dsse.json" >/dev/null
done

# An SBOM on the draft (components as this format stored them), a bound policy, an uploaded one.
cat > "$work/sbom.json" <<'SBOM'
{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
  {"name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0", "licenses": [{"license": {"id": "MIT"}}]}]}
SBOM
g vuln attach payments 1.0.0 --sbom "$work/sbom.json" >/dev/null
echo '{"check": "policy:baseline.tests", "gate": {"stage": "dev", "kind": "entry"}}' > "$work/b.json"
g binding set tests-before-dev --file "$work/b.json" >/dev/null
printf 'package team.owners\nimport rego.v1\ndeny contains "no owners" if count(input.application.owners.users) == 0\n' > "$work/owners.rego"
g policy upload team.owners "$work/owners.rego" >/dev/null

# Through every stage to a Trusted Release (record, VSA, checkpoint), and a waiver request.
for s in dev qa staging prod; do g promote payments 1.0.0 "$s" >/dev/null; done
g release payments 1.0.0 >/dev/null
g release show payments 1.0.0 --out "$out/payments-1.0.0.record.json" >/dev/null
cp "$data/keys/release.ed25519.pub.pem" "$out/release.pub.pem"
g waiver request payments 1.1.0 --gate qa/entry --justification "flaky integration suite, INC-7" \
  --expires-at 2099-01-01T00:00:00Z >/dev/null
if [ "${FIXTURE:-v1}" = v2 ] || [ "${FIXTURE:-v1}" = v3 ]; then
  # The waiver approved by someone else (four eyes); it covers the failing qa check.
  "$bin" --data-dir "$data" --actor bob waiver approve "$(g --output json waiver list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" >/dev/null
  # A second release, rolled back: its withdrawal is signed and stored.
  g app create checkout --project shop >/dev/null
  printf 'checkout 2.0.0\n' > "$work/checkout.tar.gz"
  g version create checkout 2.0.0 --artifact "name=checkout.tar.gz,kind=file,sha256=$(sha256sum "$work/checkout.tar.gz" | cut -d' ' -f1)" >/dev/null
  g evidence sign --key "$out/ci-key/ed25519.priv.pem" \
    --predicate-type https://in-toto.io/attestation/test-result/v0.1 --predicate "$work/result.json" \
    --subject "$work/checkout.tar.gz" --out "$work/checkout.dsse.json" >/dev/null
  g evidence add "$work/checkout.dsse.json" >/dev/null
  for s in dev qa staging prod; do g promote checkout 2.0.0 "$s" >/dev/null; done
  g release checkout 2.0.0 >/dev/null
  g release show checkout 2.0.0 --out "$out/checkout-2.0.0.record.json" >/dev/null
  g rollback checkout 2.0.0 --from-stage prod --reason "CVE-2026-0001 in the payment path" >/dev/null
fi
if [ "${FIXTURE:-v1}" = v3 ]; then
  shared="$(dirname "$here")/shared"  # tests/data/shared: the repository's copy
  g app create inventory --project shop >/dev/null
  for v in 3.1.0 3.2.0; do
    printf 'inventory %s\n' "$v" > "$work/inventory-$v.tar.gz"
    g version create inventory "$v" --artifact "name=inventory.tar.gz,kind=file,sha256=$(sha256sum "$work/inventory-$v.tar.gz" | cut -d' ' -f1)" >/dev/null
  done
  g vuln attach inventory 3.1.0 --sbom "$shared/sbom/python/python-env.cdx-1.6.json" >/dev/null
  # Only the advisories the expected pairs name, and one that names no shipped package.
  mkdir "$work/osv"
  for id in $(cut -f2 "$shared"/expected/python-env.cdx-1.6.pairs.tsv "$shared"/expected/npm-project.cdx-1.6.pairs.tsv | grep -v '^advisory_id' | sort -u); do
    cp "$(find "$shared/osv" -name "$id.json" | sort | head -n1)" "$work/osv/"
  done
  cp "$shared/osv/unrelated/pypa/PYSEC-2022-43034.json" "$work/osv/"
  g vuln import "$work/osv" >/dev/null
  g vuln attach inventory 3.2.0 --sbom "$shared/sbom/npm/npm-project.cdx-1.6.json" >/dev/null
fi
g audit verify >/dev/null

# One self-contained file: fold the WAL into the database.
python3 - "$data/gatehouse.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()
PY
rm -f "$data/gatehouse.db-wal" "$data/gatehouse.db-shm"
rm -rf "$data/plugin-cache"
echo "fixture written to $out"
