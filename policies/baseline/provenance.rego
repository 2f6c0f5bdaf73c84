# Build provenance is present: the version's artifacts come with signed SLSA
# provenance, verified against a trusted key (parameters `signers`, `collectors`).
package baseline.provenance

import rego.v1

provenance_types := {"https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"}

deny contains {
	"rule_id": "BASELINE-PROV-1",
	"title": "Build provenance present",
	"msg": "no verified build provenance (SLSA) for this version",
	"rationale": "Without provenance nobody can say how, where and from what source the artifacts were built.",
	"remediation": "Have the build sign SLSA provenance for the artifacts and add it with `gatehouse evidence add`.",
} if {
	not has_provenance
}

has_provenance if {
	some e in input.evidence
	e.predicate_type in provenance_types
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
