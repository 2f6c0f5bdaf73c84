-- 2: trusted keys, the artifact-digest index, evidence.
CREATE TABLE trusted_keys (
    keyid TEXT PRIMARY KEY,
    doc   TEXT NOT NULL
) STRICT;

CREATE TABLE artifact_digests (
    sha256      TEXT NOT NULL,
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (sha256, application, version)
) STRICT;
INSERT OR IGNORE INTO artifact_digests (sha256, application, version)
    SELECT json_extract(a.value, '$.sha256'), v.application, v.version
    FROM versions v, json_each(v.doc, '$.artifacts') a;

CREATE TABLE evidence (
    digest TEXT PRIMARY KEY,
    doc    TEXT NOT NULL
) STRICT;
CREATE TABLE evidence_versions (
    digest         TEXT NOT NULL REFERENCES evidence(digest),
    application    TEXT NOT NULL,
    version        TEXT NOT NULL,
    verified       INTEGER NOT NULL,
    predicate_type TEXT,
    added_at       TEXT NOT NULL,
    doc            TEXT NOT NULL,
    PRIMARY KEY (application, version, digest)
) STRICT;
