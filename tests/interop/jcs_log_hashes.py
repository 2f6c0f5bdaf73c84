"""Recompute every activity-log event hash with an independent RFC 8785
implementation (Trail of Bits' `rfc8785`) and check the chain.

    python3 jcs_log_hashes.py JCS_FROM_SEQ < events.json

events.json: a JSON array of events as `GET /v1/activity` serves them, in
sequence order. Prints `OK <n>` and exits 0 when every event from
JCS_FROM_SEQ on hashes to its stored hash over JCS and every `prev_hash`
links; otherwise names the first event that does not, and exits 1.
"""

import hashlib
import json
import sys

import rfc8785

GENESIS = "0" * 64


def main() -> int:
    jcs_from = int(sys.argv[1])
    events = json.load(sys.stdin)
    prev = GENESIS
    checked = 0
    for event in events:
        if event["prev_hash"] != prev:
            print(f"event {event['seq']}: prev_hash does not link")
            return 1
        if event["seq"] >= jcs_from:
            body = {k: v for k, v in event.items() if k != "hash"}
            digest = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
            if digest != event["hash"]:
                print(f"event {event['seq']}: JCS hash {digest} != stored {event['hash']}")
                return 1
            checked += 1
        prev = event["hash"]
    print(f"OK {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
