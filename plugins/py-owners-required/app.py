"""Gatehouse gate check in Python: an application must name its owners, and a
critical one at least two of them, before its versions move on.

Built into a component with componentize-py against ../../wit:
    componentize-py -d ../../wit -w gatehouse:plugin/gate-check@0.1.0 componentize app -o py_owners_required.wasm
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import Error, Finding, Outcome, Severity, Verdict


def min_owners(criticality: str) -> int:
    value = host.config("min_owners_" + criticality) or host.config("min_owners")
    if isinstance(value, host.ConfigValue_Integer):
        return value.value
    return 1


class WitWorld(wit_world.WitWorld):
    def check(self, context) -> Verdict:
        try:
            doc = json.loads(context.input)
        except ValueError as e:
            raise Err(Error(code="bad-input", message=f"input document: {e}"))
        app = doc.get("application") or {}
        owners = app.get("owners") or {}
        named = list(owners.get("users") or []) + list(owners.get("groups") or [])
        criticality = app.get("criticality") or "unknown"
        need = min_owners(criticality)
        host.log(host.Level.DEBUG, f"{context.application}: {len(named)} owner(s), {need} needed")
        if len(named) >= need:
            return Verdict(outcome=Outcome.PASS, findings=[])
        finding = Finding(
            rule="OWN-PY-001",
            message=f"{context.application} names {len(named)} owner(s); a {criticality} application needs {need}",
            severity=Severity.HIGH,
            remediation="add owners (users or groups) to the application",
        )
        return Verdict(outcome=Outcome.FAIL, findings=[finding])
