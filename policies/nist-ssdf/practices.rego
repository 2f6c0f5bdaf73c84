# NIST SP 800-218 (SSDF) practices, mapped to the evidence that shows them.
package nist_ssdf.practices

import rego.v1

types := {e.predicate_type | some e in input.evidence}

sbom_types := {"https://cyclonedx.org/bom", "https://spdx.dev/Document", "https://spdx.dev/Document/v2.3"}

provenance_types := {"https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"}

deny contains {
	"rule_id": "SSDF-PS.1",
	"title": "Protect all forms of code from unauthorized access and tampering",
	"msg": "the version records no source revision (vcs.revision)",
	"remediation": "Record the repository and commit of every version (vcs.repo, vcs.revision).",
} if {
	not input.version.vcs.revision
}

deny contains {
	"rule_id": "SSDF-PS.2",
	"title": "Provide a mechanism for verifying software release integrity",
	"msg": "no artifact digests with signed provenance to verify the release against",
	"remediation": "Record artifact sha256 digests and add signed provenance about them.",
} if {
	not release_verifiable
}

deny contains {
	"rule_id": "SSDF-PS.3",
	"title": "Archive and protect each software release",
	"msg": "no SBOM archived with this release",
	"remediation": "Add a signed SBOM for the release's artifacts.",
} if {
	count(types & sbom_types) == 0
}

deny contains {
	"rule_id": "SSDF-PW.7-PW.8",
	"title": "Review and test the code",
	"msg": "no verified passing test result",
	"remediation": "Add the signed test results of the build.",
} if {
	not tested
}

deny contains {
	"rule_id": "SSDF-RV.1",
	"title": "Identify and confirm vulnerabilities on an ongoing basis",
	"msg": sprintf("unresolved critical vulnerabilities: %v", [concat(", ", critical)]),
	"remediation": "Upgrade the affected components or record a decision in a waiver.",
} if {
	count(critical) > 0
}

warn contains {
	"rule_id": "SSDF-PW.4",
	"title": "Reuse existing, well-secured software",
	"msg": "no SBOM, so reused components cannot be assessed",
	"remediation": "Add an SBOM so components can be matched against advisories.",
} if {
	count(types & sbom_types) == 0
}

release_verifiable if {
	count(input.artifacts) > 0
	count(types & provenance_types) > 0
}

tested if {
	some e in input.evidence
	e.predicate_type == "https://in-toto.io/attestation/test-result/v0.1"
	e.predicate.result == "PASSED"
}

critical := {f.advisory | some f in input.findings; f.severity == "critical"}
