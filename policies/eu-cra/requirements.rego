# EU Cyber Resilience Act, Annex I: an SBOM is drawn up, no known exploited
# vulnerabilities ship, and vulnerability handling is evidenced.
package eu_cra.requirements

import rego.v1

types := {e.predicate_type | some e in input.evidence}

sbom_types := {"https://cyclonedx.org/bom", "https://spdx.dev/Document", "https://spdx.dev/Document/v2.3"}

scan_types := {"https://in-toto.io/attestation/vulns/v0.2", "https://cosign.sigstore.dev/attestation/vuln/v1"}

deny contains {
	"rule_id": "CRA-I.2.1",
	"title": "SBOM drawn up (Annex I, Part II (1))",
	"msg": "no SBOM in a commonly used machine-readable format",
	"remediation": "Add a signed CycloneDX or SPDX SBOM covering at least the top-level dependencies.",
} if {
	count(types & sbom_types) == 0
}

deny contains {
	"rule_id": "CRA-I.1.2a",
	"title": "No known exploitable vulnerabilities (Annex I, Part I (2)(a))",
	"msg": sprintf("%v ships with known exploited vulnerability %v", [f.purl, f.advisory]),
	"remediation": "Upgrade the component; known exploited vulnerabilities may not be placed on the market.",
} if {
	some f in input.findings
	f.known_exploited == true
}

deny contains {
	"rule_id": "CRA-I.2.3",
	"title": "Vulnerability handling (Annex I, Part II (2)-(3))",
	"msg": "no vulnerability scan evidence for this version",
	"remediation": "Add a signed vulnerability scan (in-toto vulns predicate) of the release.",
} if {
	count(types & scan_types) == 0
}
