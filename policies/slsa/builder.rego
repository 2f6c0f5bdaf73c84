# SLSA: every provenance names a builder on the allow-list
# (parameter `allowed_builders`: a list of builder ids). No list: fail closed.
# Only provenance from accepted signers or collectors counts (`signers`, `collectors`).
package slsa.builder

import rego.v1

# SLSA v1 provenance, in one walk of the evidence.
of_type := [e |
	some e in input.evidence
	e.predicate_type == "https://slsa.dev/provenance/v1"
]

provenance := [of_type[i] | some i in vouched(of_type)]

deny contains {
	"rule_id": "SLSA-BUILDER-3",
	"title": "Accepted provenance present",
	"msg": "no SLSA v1 provenance from an accepted signer or collector",
	"rationale": "An allow-list of builders means nothing without provenance to check it against.",
	"remediation": "Add SLSA v1 provenance signed by a key the binding accepts (parameter `signers`).",
} if {
	count(provenance) == 0
}

deny contains {
	"rule_id": "SLSA-BUILDER-1",
	"title": "Builder allow-list configured",
	"msg": "the binding gives no `allowed_builders` parameter",
	"remediation": "Bind slsa.builder with params {\"allowed_builders\": [\"https://…\"]}.",
} if {
	count(allowed_builders) == 0
}

deny contains {
	"rule_id": "SLSA-BUILDER-2",
	"title": "Trusted builder",
	"msg": sprintf("provenance %v was produced by builder %v, which is not allowed", [e.digest, b]),
	"rationale": "Provenance is only as trustworthy as the platform that produced it.",
	"remediation": "Build on an allowed build platform, or add this builder to the allow-list after review.",
} if {
	some e in provenance
	b := object.get(e.predicate, ["runDetails", "builder", "id"], "(none)")
	not b in allowed_builders
}

allowed_builders := object.get(params, "allowed_builders", [])

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
