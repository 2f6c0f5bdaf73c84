# A software bill of materials is present for the version.
package baseline.sbom

import rego.v1

sbom_types := {"https://cyclonedx.org/bom", "https://spdx.dev/Document", "https://spdx.dev/Document/v2.3"}

deny contains {
	"rule_id": "BASELINE-SBOM-1",
	"title": "SBOM present",
	"msg": "no verified SBOM (CycloneDX or SPDX) for this version",
	"rationale": "Without an SBOM new vulnerabilities cannot be traced to what was shipped.",
	"remediation": "Generate a CycloneDX or SPDX SBOM in the build, sign it as an in-toto statement, and add it as evidence.",
} if {
	not has_sbom
}

has_sbom if {
	some e in input.evidence
	e.predicate_type in sbom_types
}
