# No critical vulnerabilities in the version's components (findings come from
# matching its SBOMs against advisories); high ones warn.
package baseline.vulnerabilities

import rego.v1

deny contains {
	"rule_id": "BASELINE-VULN-1",
	"title": "No critical vulnerabilities",
	"msg": sprintf("%v is affected by critical vulnerability %v", [f.purl, f.advisory]),
	"rationale": "Critical vulnerabilities are routinely exploited soon after disclosure.",
	"remediation": "Upgrade the component to a fixed version, or request a time-limited waiver with a justification.",
} if {
	some f in input.findings
	f.severity == "critical"
}

warn contains {
	"rule_id": "BASELINE-VULN-2",
	"title": "High vulnerabilities",
	"msg": sprintf("%v is affected by high-severity vulnerability %v", [f.purl, f.advisory]),
	"remediation": "Plan the upgrade of the component.",
} if {
	some f in input.findings
	f.severity == "high"
}
