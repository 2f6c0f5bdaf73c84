# SLSA: the version reaches the required build level (parameter `min_level`,
# default 2), taking each allowed builder's level from `builder_levels`
# (builder id → level). Only provenance from accepted signers or collectors
# counts (`signers`, `collectors`).
package slsa.build_level

import rego.v1

min_level := object.get(params, "min_level", 2)

# SLSA v1 provenance, in one walk of the evidence.
of_type := [e |
	some e in input.evidence
	e.predicate_type == "https://slsa.dev/provenance/v1"
]

builder_levels := object.get(params, "builder_levels", {})

levels := [object.get(builder_levels, b, 0) |
	some i in vouched(of_type)
	b := object.get(of_type[i].predicate, ["runDetails", "builder", "id"], "")
]

reached := max(array.concat(levels, [0]))

deny contains {
	"rule_id": "SLSA-LEVEL-1",
	"title": "Build level requirement",
	"msg": sprintf("the version reaches SLSA build level %v; L%v is required", [reached, min_level]),
	"rationale": "Higher build levels resist tampering during the build.",
	"remediation": "Build on a platform rated at the required level and add its provenance.",
} if {
	reached < min_level
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
