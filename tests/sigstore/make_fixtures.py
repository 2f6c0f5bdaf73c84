#!/usr/bin/env python3
"""Make Gatehouse's Sigstore bundle fixtures, the way Sigstore's conformance
fixtures are made: a test Fulcio (root + intermediate), a test CT log, a test
Rekor (SETs, Merkle inclusion proofs, signed checkpoints) and a test TSA, all
with keys made here and thrown away. Nothing is fetched.

    python3 tests/sigstore/make_fixtures.py [OUT]   (default tests/data/sigstore)

Writes OUT/bundle-verify/<case>_pass|_fail/ with bundle.json, trusted_root.json,
artifact (when the case verifies a blob) and case.json (the identity and
issuer a verifier is asked for, and, for _fail cases, the refusal code
Gatehouse must give). OUT/walkthrough/ holds the docs/evidence.md bundles.
Needs: cryptography, asn1crypto (tests/sigstore/requirements.txt).
"""

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import struct
import sys

from asn1crypto import algos, cms, core, tsp, x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 9, 30, 0, tzinfo=UTC)  # the signing session starts
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
REPO = "acme/shop"
OTHER_REPO = "mallory/shop"
REF = "refs/tags/v1.2.3"
COMMIT = "5f3c2a1e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
IN_TOTO = "application/vnd.in-toto+json"
SLSA = "https://slsa.dev/provenance/v1"
V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


def b64(data):
    return base64.b64encode(data).decode()


def sha256(data):
    return hashlib.sha256(data).digest()


def key():
    return ec.generate_private_key(ec.SECP256R1())


def spki(k):
    return k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(k, data):
    return k.sign(data, ec.ECDSA(hashes.SHA256()))


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def utf8(text):
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gatehouse-test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ca_cert(k, subject, issuer_key, issuer_name, start, end, path_len, eku=None):
    b = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer_name) if issuer_name else name(subject))
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
    )
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


class World:
    """One trust domain: Fulcio, CT log, Rekor and TSA keys, and its trusted root."""

    def __init__(self, origin="rekor.gatehouse.test"):
        start = dt.datetime(2025, 1, 1, tzinfo=UTC)
        end = dt.datetime(2035, 1, 1, tzinfo=UTC)
        self.root_key, self.inter_key = key(), key()
        self.root = ca_cert(self.root_key, "test fulcio root", self.root_key, None, start, end, 1)
        self.inter = ca_cert(
            self.inter_key, "test fulcio intermediate", self.root_key, "test fulcio root", start, end, 0,
            eku=[ExtendedKeyUsageOID.CODE_SIGNING],
        )
        self.ct_key, self.rekor_key = key(), key()
        self.tsa_root_key, self.tsa_key = key(), key()
        self.tsa_root = ca_cert(self.tsa_root_key, "test tsa root", self.tsa_root_key, None, start, end, 0)
        self.tsa = (
            x509.CertificateBuilder()
            .subject_name(name("test tsa"))
            .issuer_name(name("test tsa root"))
            .public_key(self.tsa_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .sign(self.tsa_root_key, hashes.SHA256())
        )
        self.origin = origin
        self.ca_valid = {"start": "2025-01-01T00:00:00Z"}

    def trusted_root(self, ca_valid=None, rekor_key=None, ct_key=None):
        rekor = spki(rekor_key or self.rekor_key)
        ct = spki(ct_key or self.ct_key)

        def log(url, pub):
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(pub), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": "2025-01-01T00:00:00Z"}},
                "logId": {"keyId": b64(sha256(pub))},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log("https://rekor.gatehouse.test", rekor)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "gatehouse-test", "commonName": "test fulcio"},
                    "uri": "https://fulcio.gatehouse.test",
                    "certChain": {"certificates": [{"rawBytes": b64(der(self.inter))}, {"rawBytes": b64(der(self.root))}]},
                    "validFor": ca_valid or self.ca_valid,
                }
            ],
            "ctlogs": [log("https://ctfe.gatehouse.test", ct)],
            "timestampAuthorities": [
                {
                    "subject": {"organization": "gatehouse-test", "commonName": "test tsa"},
                    "uri": "https://tsa.gatehouse.test",
                    "certChain": {"certificates": [{"rawBytes": b64(der(self.tsa))}, {"rawBytes": b64(der(self.tsa_root))}]},
                    "validFor": {"start": "2025-01-01T00:00:00Z"},
                }
            ],
        }

    # --- Fulcio -----------------------------------------------------------
    def leaf(self, k, repo=REPO, issuer=GITHUB_ISSUER, start=T0, minutes=10, sct_key=None):
        workflow = f"https://github.com/{repo}/.github/workflows/release.yml@{REF}"
        owner = repo.split("/")[0]
        fulcio = {
            "1.3.6.1.4.1.57264.1.1": issuer.encode(),  # issuer (v1, raw)
            "1.3.6.1.4.1.57264.1.2": b"push",
            "1.3.6.1.4.1.57264.1.3": COMMIT.encode(),
            "1.3.6.1.4.1.57264.1.4": b"release",
            "1.3.6.1.4.1.57264.1.5": repo.encode(),
            "1.3.6.1.4.1.57264.1.6": REF.encode(),
            "1.3.6.1.4.1.57264.1.8": utf8(issuer),
            "1.3.6.1.4.1.57264.1.9": utf8(workflow),
            "1.3.6.1.4.1.57264.1.10": utf8(COMMIT),
            "1.3.6.1.4.1.57264.1.11": utf8("github-hosted"),
            "1.3.6.1.4.1.57264.1.12": utf8(f"https://github.com/{repo}"),
            "1.3.6.1.4.1.57264.1.13": utf8(COMMIT),
            "1.3.6.1.4.1.57264.1.14": utf8(REF),
            "1.3.6.1.4.1.57264.1.15": utf8("811734"),
            "1.3.6.1.4.1.57264.1.16": utf8(f"https://github.com/{owner}"),
            "1.3.6.1.4.1.57264.1.17": utf8("93120"),
            "1.3.6.1.4.1.57264.1.18": utf8(workflow),
            "1.3.6.1.4.1.57264.1.19": utf8(COMMIT),
            "1.3.6.1.4.1.57264.1.20": utf8("push"),
            "1.3.6.1.4.1.57264.1.21": utf8(f"https://github.com/{repo}/actions/runs/4242/attempts/1"),
            "1.3.6.1.4.1.57264.1.22": utf8("public"),
        }
        serial = x509.random_serial_number()

        def build(sct_list):
            b = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(self.inter.subject)
                .public_key(k.public_key())
                .serial_number(serial)
                .not_valid_before(start)
                .not_valid_after(start + dt.timedelta(minutes=minutes))
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(workflow)]), critical=True)
            )
            for oid, value in fulcio.items():
                b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
            b = b.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), octet(sct_list)), critical=False
            )
            return b.sign(self.inter_key, hashes.SHA256())

        # RFC 6962 §3.2: the SCT signs the precertificate's TBS (the final TBS
        # without the SCT list) and the issuer's key hash.
        tbs = build(b"\x00\x00").tbs_precertificate_bytes
        ts = int(start.timestamp() * 1000)
        ct = sct_key or self.ct_key
        signed = (
            b"\x00\x00" + struct.pack(">Q", ts) + b"\x00\x01" + sha256(spki_of(self.inter))
            + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00"
        )
        sig = sign(ct, signed)
        sct = b"\x00" + sha256(spki(self.ct_key)) + struct.pack(">Q", ts) + b"\x00\x00" + b"\x04\x03" + struct.pack(">H", len(sig)) + sig
        entry = struct.pack(">H", len(sct)) + sct
        return build(struct.pack(">H", len(entry)) + entry)

    # --- Rekor ------------------------------------------------------------
    def tlog_entry(self, body, integrated, kind, version, proof=True, promise=True, tree_size=7, index=5,
                   checkpoint_key=None, corrupt_proof=False, corrupt_set=False, rekor_v2=False):
        log_id = sha256(spki(self.rekor_key))
        # Rekor v1 shards give entries a global index; a Rekor v2 log's index is
        # the leaf's, and it vouches for no time of its own (no SET).
        global_index = index if rekor_v2 else 90000 + index
        entry = {
            "logIndex": str(global_index),
            "logId": {"keyId": b64(log_id)},
            "kindVersion": {"kind": kind, "version": version},
            "canonicalizedBody": b64(body),
        }
        if rekor_v2:
            promise = False
        else:
            entry["integratedTime"] = str(int(integrated.timestamp()))
        if promise:
            payload = canon({"body": b64(body), "integratedTime": int(integrated.timestamp()), "logID": log_id.hex(), "logIndex": global_index})
            sig = sign(self.rekor_key, payload)
            if corrupt_set:
                sig = sign(self.rekor_key, payload + b" ")
            entry["inclusionPromise"] = {"signedEntryTimestamp": b64(sig)}
        if proof:
            leaves = [sha256(b"\x00" + f"other entry {i}".encode()) for i in range(tree_size)]
            leaves[index] = sha256(b"\x00" + body)
            root = merkle_root(leaves)
            path = audit_path(leaves, index)
            if corrupt_proof:
                path[0] = sha256(b"not the sibling")
            note = f"{self.origin} - 4242\n{tree_size}\n{b64(root)}\n"
            ck = checkpoint_key or self.rekor_key
            hint = sha256(spki(ck))[:4]
            note += f"\n\u2014 {self.origin} {b64(hint + sign(ck, note.encode()))}\n"
            entry["inclusionProof"] = {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(tree_size),
                "hashes": [b64(h) for h in path],
                "checkpoint": {"envelope": note},
            }
        return entry

    # --- TSA --------------------------------------------------------------
    def timestamp(self, signature, when):
        imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": sha256(signature)})
        info = tsp.TSTInfo({
            "version": "v1",
            "policy": "1.3.6.1.4.1.57264.2",
            "message_imprint": imprint,
            "serial_number": 4242,
            "gen_time": when,
            "accuracy": {"seconds": 1},
            "nonce": 1234567,
        })
        content = info.dump()
        tsa_cert = ax509.Certificate.load(der(self.tsa))
        attrs = cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [cms.Time({"utc_time": when})]},
            {"type": "message_digest", "values": [sha256(content)]},
            {"type": "signing_certificate_v2", "values": [{"certs": [{"cert_hash": sha256(der(self.tsa))}]}]},
        ])
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": sign(self.tsa_key, attrs.dump()),
        })
        signed = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(content)},
            "certificates": [tsa_cert],
            "signer_infos": [signer],
        })
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed})
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


def octet(data):
    return bytes([0x04]) + der_len(len(data)) + data


def der_len(n):
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def spki_of(cert):
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def canon(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def node(left, right):
    return sha256(b"\x01" + left + right)


def merkle_root(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def audit_path(leaves, index):
    """RFC 6962 §2.1.1 PATH(m, D[n]), leaf to root."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return audit_path(leaves[:k], index) + [merkle_root(leaves[k:])]
    return audit_path(leaves[k:], index - k) + [merkle_root(leaves[:k])]


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def provenance(artifact_name, artifact, repo=REPO):
    """An in-toto Statement v1 shaped as actions/attest-build-provenance emits it."""
    workflow_ref = f"{repo}/.github/workflows/release.yml@{REF}"
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": artifact_name, "digest": {"sha256": hashlib.sha256(artifact).hexdigest()}}],
        "predicateType": SLSA,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": REF, "repository": f"https://github.com/{repo}", "path": ".github/workflows/release.yml"}},
                "internalParameters": {"github": {"event_name": "push", "repository_id": "811734", "repository_owner_id": "93120", "runner_environment": "github-hosted"}},
                "resolvedDependencies": [{"uri": f"git+https://github.com/{repo}@{REF}", "digest": {"gitCommit": COMMIT}}],
            },
            "runDetails": {
                "builder": {"id": f"https://github.com/{workflow_ref}"},
                "metadata": {"invocationId": f"https://github.com/{repo}/actions/runs/4242/attempts/1"},
            },
        },
    }


def dsse_bundle(w, statement, media=V03, repo=REPO, issuer=GITHUB_ISSUER, leaf_start=T0, minutes=10,
                integrated=None, tamper_payload=None, chain=False, tsa=None, corrupt_sig=False, sct_key=None,
                rekor_v2=False, **tlog):
    k = key()
    cert = w.leaf(k, repo=repo, issuer=issuer, start=leaf_start, minutes=minutes, sct_key=sct_key)
    payload = canon(statement)
    sig = sign(k, pae(IN_TOTO, payload))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    body = canon({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canon({"payload": b64(payload), "payloadType": IN_TOTO, "signatures": [{"sig": b64(sig)}]})).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(sig), "verifier": b64(pem)}],
        },
    })
    if rekor_v2:
        # Rekor v2 logs a DSSE envelope as a hashedrekord v0.0.2 of its PAE.
        body = canon({
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {"hashedRekordV002": {
                "data": {"algorithm": "SHA2_256", "digest": b64(sha256(pae(IN_TOTO, payload)))},
                "signature": {"content": b64(sig), "verifier": {"keyDetails": "PKIX_ECDSA_P256_SHA_256", "x509Certificate": {"rawBytes": b64(der(cert))}}},
            }},
        })
        entry = w.tlog_entry(body, None, "hashedrekord", "0.0.2", rekor_v2=True, **tlog)
    else:
        entry = w.tlog_entry(body, integrated or T0 + dt.timedelta(minutes=1), "dsse", "0.0.1", **tlog)
    if tamper_payload is not None:
        # Signed anew by the same certificate key: the envelope verifies, but
        # the log entry is of the statement signed before.
        payload = canon(tamper_payload)
        sig = sign(k, pae(IN_TOTO, payload))
    if corrupt_sig:
        sig = sign(k, b"something else")
    material = {"tlogEntries": [entry]}
    if chain:
        material["x509CertificateChain"] = {"certificates": [{"rawBytes": b64(der(cert))}]}
    else:
        material["certificate"] = {"rawBytes": b64(der(cert))}
    if tsa:
        # `tsa` is the world whose TSA stamps the signature (another world's is untrusted).
        material["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": b64(tsa.timestamp(sig, T0 + dt.timedelta(minutes=2)))}]}
    return {
        "mediaType": media,
        "verificationMaterial": material,
        "dsseEnvelope": {"payload": b64(payload), "payloadType": IN_TOTO, "signatures": [{"sig": b64(sig), "keyid": ""}]},
    }


def message_bundle(w, artifact, media=V03):
    k = key()
    cert = w.leaf(k)
    digest = sha256(artifact)
    sig = sign(k, artifact)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    body = canon({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {"content": b64(sig), "publicKey": {"content": b64(pem)}},
        },
    })
    entry = w.tlog_entry(body, T0 + dt.timedelta(minutes=1), "hashedrekord", "0.0.1")
    return {
        "mediaType": media,
        "verificationMaterial": {"certificate": {"rawBytes": b64(der(cert))}, "tlogEntries": [entry]},
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)}, "signature": b64(sig)},
    }


def write_case(out, case, bundle, root, code=None, artifact=None, identity=None, issuer=GITHUB_ISSUER, note=""):
    d = os.path.join(out, "bundle-verify", case)
    os.makedirs(d)
    with open(os.path.join(d, "bundle.json"), "w") as f:
        json.dump(bundle, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "trusted_root.json"), "w") as f:
        json.dump(root, f, indent=2)
        f.write("\n")
    if artifact is not None:
        with open(os.path.join(d, "artifact"), "wb") as f:
            f.write(artifact)
    spec = {
        "identity": identity or f"https://github.com/{REPO}/.github/workflows/release.yml@{REF}",
        "issuer": issuer,
        "artifact": artifact is not None,
        "code": code,
        "what": note,
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "sigstore")
    shutil.rmtree(os.path.join(out, "bundle-verify"), ignore_errors=True)
    shutil.rmtree(os.path.join(out, "walkthrough"), ignore_errors=True)
    w, other = World(), World()
    root = w.trusted_root()
    tarball = b"shop 1.2.3 release tarball\n" * 64
    stmt = provenance("shop-1.2.3.tar.gz", tarball)
    me = f"https://github.com/{REPO}/.github/workflows/release.yml@{REF}"

    write_case(out, "dsse-slsa-github_v0.3_pass", dsse_bundle(w, stmt), root, artifact=tarball,
               note="SLSA provenance as actions/attest-build-provenance emits it; inclusion proof and SET")
    write_case(out, "dsse-rfc3161_v0.3_pass", dsse_bundle(w, stmt, tsa=w), root, artifact=tarball,
               note="an RFC 3161 timestamp from the test TSA besides the log's time")
    write_case(out, "dsse-rekor-v2_v0.3_pass", dsse_bundle(w, stmt, rekor_v2=True, tsa=w), root, artifact=tarball,
               note="a Rekor v2 entry (hashedrekord 0.0.2, checkpoint-only proof) with the signing time from the TSA")
    write_case(out, "dsse_v0.2_pass", dsse_bundle(w, stmt, media=V02, chain=True), root, artifact=tarball,
               note="v0.2: x509CertificateChain, inclusion proof")
    write_case(out, "dsse-set-only_v0.1_pass", dsse_bundle(w, stmt, media=V01, chain=True, proof=False), root,
               artifact=tarball, note="v0.1: a signed entry timestamp, no inclusion proof")
    write_case(out, "message-signature_v0.3_pass", message_bundle(w, tarball), root, artifact=tarball,
               note="a message signature over the blob (hashedrekord)")

    write_case(out, "wrong-ca_fail", dsse_bundle(other, stmt), other.trusted_root() | {"certificateAuthorities": root["certificateAuthorities"]},
               code="certificate_untrusted", artifact=tarball, note="the certificate chains to a CA the trusted root does not hold")
    write_case(out, "certificate-expired_fail", dsse_bundle(w, stmt, integrated=T0 + dt.timedelta(minutes=20)), root,
               code="certificate_expired", artifact=tarball, note="logged 20 minutes after a 10-minute certificate")
    write_case(out, "certificate-not-yet-valid_fail", dsse_bundle(w, stmt, integrated=T0 - dt.timedelta(minutes=5)), root,
               code="certificate_not_yet_valid", artifact=tarball, note="logged before the certificate's notBefore")
    write_case(out, "ca-outside-validity_fail", dsse_bundle(w, stmt), w.trusted_root(ca_valid={"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
               code="no_valid_authority", artifact=tarball, note="the trusted root's CA window ended before the signing time")
    write_case(out, "inclusion-proof-missing_v0.3_fail", dsse_bundle(w, stmt, proof=False), root,
               code="inclusion_proof_missing", artifact=tarball, note="a v0.3 bundle must carry an inclusion proof")
    write_case(out, "inclusion-proof-corrupted_fail", dsse_bundle(w, stmt, corrupt_proof=True), root,
               code="inclusion_proof_invalid", artifact=tarball, note="one audit-path hash replaced")
    write_case(out, "checkpoint-wrong-key_fail", dsse_bundle(w, stmt, checkpoint_key=key()), root,
               code="checkpoint_invalid", artifact=tarball, note="the checkpoint is signed by a key the trusted root does not hold")
    write_case(out, "set-invalid_v0.1_fail", dsse_bundle(w, stmt, media=V01, chain=True, proof=False, corrupt_set=True), root,
               code="inclusion_promise_invalid", artifact=tarball, note="the signed entry timestamp signs other bytes")
    write_case(out, "tsa-untrusted_fail", dsse_bundle(w, stmt, tsa=other), root,
               code="timestamp_invalid", artifact=tarball, note="an RFC 3161 timestamp from a TSA the trusted root does not hold")
    write_case(out, "envelope-not-logged_fail", dsse_bundle(w, stmt, tamper_payload=provenance("evil.tar.gz", b"evil")), root,
               code="tlog_entry_mismatch", note="the envelope was re-signed after logging; the log holds another statement")
    write_case(out, "bad-signature_fail", dsse_bundle(w, stmt, corrupt_sig=True), root,
               code="bad_signature", artifact=tarball, note="the envelope's signature does not verify")
    write_case(out, "sct-wrong-key_fail", dsse_bundle(w, stmt, sct_key=key()), root,
               code="sct_invalid", artifact=tarball, note="the SCT is signed by a key that is not the CT log's")
    write_case(out, "wrong-identity_fail", dsse_bundle(w, provenance("shop-1.2.3.tar.gz", tarball, OTHER_REPO), repo=OTHER_REPO), root,
               code="identity_mismatch", artifact=tarball, identity=me, note="signed by another repository's workflow")
    write_case(out, "wrong-issuer_fail", dsse_bundle(w, stmt, issuer="https://accounts.example.com"), root,
               code="issuer_mismatch", artifact=tarball, note="the certificate's OIDC issuer is not GitHub Actions")
    write_case(out, "artifact-mismatch_fail", message_bundle(w, tarball), root, code="artifact_mismatch",
               artifact=b"another blob\n", note="the message signature is over another blob")

    # docs/evidence.md: the same provenance from our workflow and from another repository's.
    wt = os.path.join(out, "walkthrough")
    os.makedirs(wt)
    for file, value in [
        ("trusted_root.json", root),
        ("shop-provenance.sigstore.json", dsse_bundle(w, stmt)),
        ("fork-provenance.sigstore.json", dsse_bundle(w, provenance("shop-1.2.3.tar.gz", tarball, OTHER_REPO), repo=OTHER_REPO)),
    ]:
        with open(os.path.join(wt, file), "w") as f:
            json.dump(value, f, indent=2)
            f.write("\n")
    with open(os.path.join(wt, "shop-1.2.3.tar.gz"), "wb") as f:
        f.write(tarball)


if __name__ == "__main__":
    main()
