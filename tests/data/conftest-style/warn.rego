package main

import rego.v1

warn_criticality contains msg if {
	input.application.criticality == "unspecified"
	msg := sprintf("application %v has criticality unspecified: rate it", [input.application.key])
}
