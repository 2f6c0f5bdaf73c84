# A conftest-style policy set written for Gatehouse's tests: several files of
# one package (`main`), conftest's rule names, judged against the input
# document. Written for this repository (Apache-2.0).
package main

import rego.v1

deny contains msg if {
	count(input.application.owners.users) == 0
	count(input.application.owners.groups) == 0
	msg := sprintf("application %v has no owners", [input.application.key])
}
