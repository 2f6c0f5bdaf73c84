package main

import rego.v1

violation_vcs contains {"msg": msg, "details": {"field": "version.vcs"}} if {
	not input.version.vcs.revision
	msg := sprintf("version %v has no VCS revision", [input.version.version])
}
