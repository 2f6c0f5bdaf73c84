# SLSA: every provenance names a builder on the allow-list
# (parameter `allowed_builders`: a list of builder ids). No list: fail closed.
package slsa.builder

import rego.v1

provenance := [e | some e in input.evidence; e.predicate_type == "https://slsa.dev/provenance/v1"]

deny contains {
	"rule_id": "SLSA-BUILDER-1",
	"title": "Builder allow-list configured",
	"msg": "the binding gives no `allowed_builders` parameter",
	"remediation": "Bind slsa.builder with params {\"allowed_builders\": [\"https://…\"]}.",
} if {
	count(object.get(data, ["params", "allowed_builders"], [])) == 0
}

deny contains {
	"rule_id": "SLSA-BUILDER-2",
	"title": "Trusted builder",
	"msg": sprintf("provenance %v was produced by builder %v, which is not allowed", [e.digest, builder(e)]),
	"rationale": "Provenance is only as trustworthy as the platform that produced it.",
	"remediation": "Build on an allowed build platform, or add this builder to the allow-list after review.",
} if {
	some e in provenance
	not builder(e) in object.get(data, ["params", "allowed_builders"], [])
}

builder(e) := object.get(e.predicate, ["runDetails", "builder", "id"], "(none)")
