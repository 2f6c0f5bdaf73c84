# Tests ran and passed: a verified in-toto test-result with result PASSED, and
# no verified test-result that failed. Only the passing results of accepted
# signers or collectors count (parameters `signers`, `collectors`); a failing
# result counts whoever vouches for it.
package baseline.tests

import rego.v1

test_result := "https://in-toto.io/attestation/test-result/v0.1"

# The test results, in one walk of the evidence.
results := [e |
	some e in input.evidence
	e.predicate_type == test_result
]

deny contains {
	"rule_id": "BASELINE-TEST-1",
	"title": "Passing test results present",
	"msg": "no verified passing test result for this version",
	"rationale": "Promoting untested builds moves unknown defects towards production.",
	"remediation": "Sign the CI test result as an in-toto test-result statement and add it as evidence.",
} if {
	not has_passing
}

deny contains {
	"rule_id": "BASELINE-TEST-2",
	"title": "No failing test results",
	"msg": sprintf("test result %v failed: %v", [e.predicate.url, concat(", ", e.predicate.failedTests)]),
	"rationale": "A failing test result for the same artifacts is a known defect.",
	"remediation": "Fix the failing tests and build a new version.",
} if {
	some e in results
	e.predicate.result == "FAILED"
}

warn contains {
	"rule_id": "BASELINE-TEST-3",
	"title": "Warned tests",
	"msg": sprintf("tests passed with warnings: %v", [concat(", ", e.predicate.warnedTests)]),
	"remediation": "Look at the warned tests before they turn into failures.",
} if {
	some e in results
	count(object.get(e.predicate, "warnedTests", [])) > 0
}

has_passing if {
	some i in vouched(results)
	results[i].predicate.result == "PASSED"
}

# The positions in `items` of evidence this binding accepts (docs/policies.md,
# "Who vouches"): signed by a trusted key — any, or one whose name is in the
# `signers` parameter — or collected by a plugin named in the `collectors`
# parameter (none by default: a collector's claim never counts unless the
# binding says so). One call judges a whole list: a call per item costs
# several times more (docs/policies.md, "Fast policies").
default params := {"signers": [], "collectors": []}

params := object.union({"signers": [], "collectors": []}, data.params)

vouched(items) := {i |
	count(params.signers) == 0
	e := items[i]
	e.origin.kind == "signed"
} | {i |
	count(params.signers) > 0
	e := items[i]
	e.origin.kind == "signed"
	some s in e.origin.signers
	s.name in params.signers
} | {i |
	count(params.collectors) > 0
	e := items[i]
	e.origin.kind == "collected"
	e.origin.plugin in params.collectors
}
