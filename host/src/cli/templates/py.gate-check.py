"""{{name}}: a Gatehouse gate check in Python. It blocks a transition unless
the version carries verified evidence of every predicate type `[config]
required` names (a binding's params.required replaces the list).

Build: componentize-py -d wit -w gatehouse:plugin/gate-check@0.1.0 componentize app -o {{wasm}}
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import Error, Finding, Outcome, Severity, Verdict


def config_list(key):
    value = host.config(key)
    if isinstance(value, host.ConfigValue_List):
        return list(value.value)
    if isinstance(value, host.ConfigValue_Text):
        return [value.value]
    return []


class WitWorld(wit_world.WitWorld):
    def check(self, context) -> Verdict:
        try:
            doc = json.loads(context.input)
            params = json.loads(context.params)
        except ValueError as e:
            raise Err(Error(code="bad-input", message=f"input document or params: {e}"))
        required = config_list("required")
        if "required" in params:
            if not isinstance(params["required"], list):
                raise Err(Error(code="bad-params", message="params.required must be a list of predicate types"))
            required = params["required"]
        evidence = doc.get("evidence") or []
        present = [e.get("predicate_type") for e in evidence]
        host.log(
            host.Level.INFO,
            f"{context.application} {context.version}: {len(evidence)} evidence item(s), {len(required)} type(s) required",
        )
        findings = [
            Finding(
                rule="{{rule}}",
                message=f"{context.application} {context.version} has no verified evidence of type {t}",
                severity=Severity.HIGH,
                remediation=f"sign a statement of type {t} in CI and add it as evidence",
            )
            for t in required
            if t not in present
        ]
        return Verdict(outcome=Outcome.FAIL if findings else Outcome.PASS, findings=findings)
