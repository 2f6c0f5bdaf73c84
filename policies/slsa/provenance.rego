# SLSA: provenance in the v1 format is present.
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
}
