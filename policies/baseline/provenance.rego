# Build provenance is present: the version's artifacts come with signed SLSA
# provenance, verified against a trusted key.
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
}
