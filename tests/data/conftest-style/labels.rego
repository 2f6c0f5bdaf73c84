package main

import rego.v1

required_labels := {"team"}

deny_missing_labels contains msg if {
	some label in required_labels
	not input.application.labels[label]
	msg := sprintf("application %v lacks the label %v", [input.application.key, label])
}
