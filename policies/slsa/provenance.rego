# SLSA: provenance in the v1 format is present (parameters `signers`, `collectors`).
package slsa.provenance

import rego.v1

deny contains {
	"rule_id": "SLSA-PROV-1",
	"title": "SLSA provenance v1 present",
	"msg": "no verified provenance with predicate type https://slsa.dev/provenance/v1",
	"rationale": "SLSA build levels are defined over v1 provenance.",
	"remediation": "Emit SLSA v1 provenance from the build platform and add it as evidence.",
} if {
	not has_v1
}

has_v1 if {
	some e in input.evidence
	e.predicate_type == "https://slsa.dev/provenance/v1"
	accepted(e)
}

# Evidence this binding accepts (docs/policies.md, "Who vouches"): signed by a
# trusted key — any, or one whose name is in the `signers` parameter — or
# collected by a plugin named in the `collectors` parameter (none by default:
# a collector's claim never counts unless the binding says so).
default params := {"signers": [], "collectors": []}

params := object.union({"signers": [], "collectors": []}, data.params)

accepted(e) if {
	e.origin.kind == "signed"
	count(params.signers) == 0
}

accepted(e) if {
	e.origin.kind == "signed"
	some s in e.origin.signers
	s.name in params.signers
}

accepted(e) if {
	e.origin.kind == "collected"
	e.origin.plugin in params.collectors
}
