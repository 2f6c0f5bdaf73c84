-- 1: applications, versions, lifecycles, activity log.
CREATE TABLE applications (
    key         TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    criticality TEXT NOT NULL,
    maturity    TEXT NOT NULL,
    doc         TEXT NOT NULL
) STRICT;
CREATE INDEX applications_project ON applications(project);

CREATE TABLE versions (
    id             INTEGER PRIMARY KEY,
    application    TEXT NOT NULL REFERENCES applications(key),
    version        TEXT NOT NULL,
    lifecycle      TEXT NOT NULL,
    stage          TEXT,
    release_status TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    doc            TEXT NOT NULL,
    UNIQUE (application, version)
) STRICT;
CREATE INDEX versions_lifecycle_stage ON versions(lifecycle, stage);

CREATE TABLE lifecycles (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
) STRICT;
CREATE TABLE lifecycle_projects (
    project   TEXT PRIMARY KEY,
    lifecycle TEXT NOT NULL REFERENCES lifecycles(name)
) STRICT;

CREATE TABLE activity (
    seq         INTEGER PRIMARY KEY,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    application TEXT,
    version     TEXT,
    result      TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
) STRICT;
CREATE INDEX activity_app ON activity(application, version);
CREATE INDEX activity_time ON activity(time);
-- Guards against accidents; the hash chain is what detects tampering.
CREATE TRIGGER activity_no_update BEFORE UPDATE ON activity
    BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
CREATE TRIGGER activity_no_delete BEFORE DELETE ON activity
    BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
