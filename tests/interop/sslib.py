"""The in-toto reference library's side of the interoperability tests.

    python3 sslib.py verify ENVELOPE THRESHOLD PUB.pem...   prints VERIFIED keyids=... or exits 1
    python3 sslib.py sign PRIV.pem STATEMENT.json OUT.json   writes a DSSE envelope signed by securesystemslib

Run by tests/tests/evidence.rs; needs `pip install -r tests/requirements.txt`.
"""

import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey


def verify(envelope_path, threshold, key_paths):
    keys = []
    for path in key_paths:
        with open(path, "rb") as f:
            keys.append(SSlibKey.from_crypto(load_pem_public_key(f.read())))
    with open(envelope_path) as f:
        envelope = Envelope.from_dict(json.load(f))
    try:
        accepted = envelope.verify(keys, int(threshold))
    except Exception as e:  # the reference raises VerificationError and friends
        print(f"REJECTED {type(e).__name__}: {e}")
        return 1
    if envelope.payload_type != "application/vnd.in-toto+json":
        print(f"REJECTED payloadType {envelope.payload_type}")
        return 1
    statement = json.loads(envelope.pae().split(b" ", 4)[4])
    if statement.get("_type") != "https://in-toto.io/Statement/v1":
        print(f"REJECTED _type {statement.get('_type')}")
        return 1
    print("VERIFIED keyids=" + ",".join(sorted(accepted)))
    return 0


def sign(private_path, statement_path, out_path):
    with open(private_path, "rb") as f:
        signer = CryptoSigner(load_pem_private_key(f.read(), None))
    with open(statement_path, "rb") as f:
        payload = f.read()
    envelope = Envelope(payload=payload, payload_type="application/vnd.in-toto+json", signatures={})
    envelope.sign(signer)
    with open(out_path, "w") as f:
        json.dump(envelope.to_dict(), f)
    print("SIGNED keyid=" + signer.public_key.keyid)
    return 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "verify":
        sys.exit(verify(args[0], args[1], args[2:]))
    if command == "sign":
        sys.exit(sign(*args))
    sys.exit(f"unknown command {command}")
