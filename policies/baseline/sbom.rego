# A software bill of materials is present for the version (parameters `signers`, `collectors`).
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
