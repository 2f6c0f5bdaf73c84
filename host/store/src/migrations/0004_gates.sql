-- 4: policy gates: bindings, uploaded policies, waivers, stored gate evaluations.
CREATE TABLE bindings (
    id  TEXT PRIMARY KEY,
    doc TEXT NOT NULL
) STRICT;
CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
) STRICT;
CREATE TABLE waivers (
    id          TEXT PRIMARY KEY,
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    doc         TEXT NOT NULL
) STRICT;
CREATE INDEX waivers_version ON waivers(application, version);
CREATE TABLE gate_evaluations (
    id          TEXT PRIMARY KEY,
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    doc         TEXT NOT NULL
) STRICT;
CREATE INDEX gate_evaluations_version ON gate_evaluations(application, version, created_at);
