"""rego-cpp (the regopy package) on the same policies and input document as
host/benches/gate.rs, run by that benchmark in the same run.

    python3 regopy_gate.py DIR   # DIR holds input.json, params.json, policies/*.rego, bound.txt, three.rego

Prints one JSON object: medians in microseconds, with the harness's own
per-call cost measured the same way.
"""

import json
import pathlib
import statistics
import sys
import time

from regopy import Interpreter


def median_us(fn, rounds, inner):
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t) / inner * 1e6)
    return statistics.median(samples), min(samples), max(samples)


def rego_error(rego, name):
    """rego-cpp's own error message for a query, when it gives one."""
    import regopy.output as output

    raw = []
    loads = output.json.loads

    def capture(text, *a, **k):
        raw.append(text)
        return loads(text, *a, **k)

    output.json.loads = capture
    try:
        rego.query(f"data.{name}.deny")
    except Exception:
        pass
    finally:
        output.json.loads = loads
    for line in "".join(raw).splitlines():
        if "errormsg" in line:
            return line.strip().strip("()").replace("errormsg ", "")
    return None


def main(d):
    d = pathlib.Path(d)
    doc = (d / "input.json").read_text()
    params = (d / "params.json").read_text()
    bound = (d / "bound.txt").read_text().split()
    rego = Interpreter()
    for p in sorted((d / "policies").glob("*.rego")):
        rego.add_module(p.name, p.read_text())
    rego.add_module("three.rego", (d / "three.rego").read_text())
    rego.add_data_json('{"params": %s}' % params)
    rego.set_input_term(doc)
    # The gate compared is the bound policies rego-cpp can evaluate; the
    # others are named with the reason, and the Rust side drops them too.
    unsupported = {}
    for name in sorted(set(bound)):
        try:
            rego.query(f"data.{name}.deny")
            rego.query(f"data.{name}.warn")
        except Exception as e:  # regopy raises on rego-cpp's error output
            unsupported[name] = rego_error(rego, name) or repr(e)
    bound = [n for n in bound if n not in unsupported]

    def whole_gate():
        rego.set_input_term(doc)
        for name in bound:
            rego.query(f"data.{name}.deny")
            rego.query(f"data.{name}.warn")

    def three_rules():
        rego.query("data.three.deny")

    def trivial():
        rego.query("data.three.nothing")

    def empty():
        pass

    gate = median_us(whole_gate, 7, 3)
    three = median_us(three_rules, 9, 10)
    floor = median_us(trivial, 9, 20)
    harness = median_us(empty, 9, 10000)
    print(json.dumps({
        "compared": bound,
        "unsupported": unsupported,
        "regopy_version": getattr(__import__("regopy"), "__version__", "1.5.2"),
        "whole_gate_us": gate,
        "three_rule_query_us": three,
        "undefined_rule_query_us": floor,
        "python_loop_per_call_us": harness,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
