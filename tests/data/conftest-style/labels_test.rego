package main

import rego.v1

# An OPA unit test beside the policies, as conftest projects keep them:
# `gatehouse policy upload DIR` leaves *_test.rego out.
test_missing_team_label if {
	count(deny_missing_labels) == 1 with input as {"application": {"key": "a", "labels": {}}}
}
