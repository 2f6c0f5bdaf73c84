-- Gatehouse's schema on PostgreSQL: the SQLite store's tables as of its
-- migration 0011, one file. Documents are TEXT COLLATE "C", not JSONB: envelopes,
-- records and event details are served and hashed as the bytes written.

CREATE TABLE applications (
    key         TEXT COLLATE "C" PRIMARY KEY,
    project     TEXT COLLATE "C" NOT NULL,
    criticality TEXT COLLATE "C" NOT NULL,
    maturity    TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX applications_project ON applications(project);

CREATE TABLE versions (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application    TEXT COLLATE "C" NOT NULL REFERENCES applications(key),
    version        TEXT COLLATE "C" NOT NULL,
    lifecycle      TEXT COLLATE "C" NOT NULL,
    stage          TEXT COLLATE "C",
    release_status TEXT COLLATE "C" NOT NULL,
    revision       BIGINT NOT NULL,
    doc            TEXT COLLATE "C" NOT NULL,
    UNIQUE (application, version)
);
CREATE INDEX versions_lifecycle_stage ON versions(lifecycle, stage);

CREATE TABLE lifecycles (
    name TEXT COLLATE "C" PRIMARY KEY,
    doc  TEXT COLLATE "C" NOT NULL
);
CREATE TABLE lifecycle_projects (
    project   TEXT COLLATE "C" PRIMARY KEY,
    lifecycle TEXT COLLATE "C" NOT NULL REFERENCES lifecycles(name)
);

-- The activity log: one chain, whichever sidecar appends. An appender locks
-- the one row of log_head (SELECT … FOR UPDATE) for the rest of its
-- transaction, so concurrent appenders queue and never fork the chain.
CREATE TABLE activity (
    seq         BIGINT PRIMARY KEY,
    time        TEXT COLLATE "C" NOT NULL,
    actor       TEXT COLLATE "C" NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL,
    application TEXT COLLATE "C",
    version     TEXT COLLATE "C",
    result      TEXT COLLATE "C" NOT NULL,
    details     TEXT COLLATE "C" NOT NULL,
    prev_hash   TEXT COLLATE "C" NOT NULL,
    hash        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX activity_app ON activity(application, version);
CREATE INDEX activity_time ON activity(time);

CREATE TABLE log_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
INSERT INTO log_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- A new database hashes with RFC 8785 (JCS) from its first event.
CREATE TABLE log_format (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    canonicalization TEXT COLLATE "C" NOT NULL CHECK (canonicalization = 'rfc8785'),
    from_seq         BIGINT NOT NULL CHECK (from_seq >= 1)
);
INSERT INTO log_format (id, canonicalization, from_seq) VALUES (1, 'rfc8785', 1);

CREATE FUNCTION gatehouse_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END;
$$;
CREATE TRIGGER activity_append_only BEFORE UPDATE OR DELETE ON activity
    FOR EACH ROW EXECUTE FUNCTION gatehouse_refuse('the activity log is append-only');
CREATE TRIGGER activity_no_truncate BEFORE TRUNCATE ON activity
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_refuse('the activity log is append-only');
CREATE TRIGGER log_format_once BEFORE UPDATE OR DELETE ON log_format
    FOR EACH ROW EXECUTE FUNCTION gatehouse_refuse('the log format is recorded once');

CREATE TABLE trusted_keys (
    keyid TEXT COLLATE "C" PRIMARY KEY,
    doc   TEXT COLLATE "C" NOT NULL
);

CREATE TABLE artifact_digests (
    sha256      TEXT COLLATE "C" NOT NULL,
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (sha256, application, version)
);

-- Evidence is content-addressed: one row per envelope digest, however many
-- versions it is bound to (evidence_versions).
CREATE TABLE evidence (
    -- The order envelopes arrived in (the first of a statement is its record).
    added     BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    digest    TEXT COLLATE "C" PRIMARY KEY,
    doc       TEXT COLLATE "C" NOT NULL,
    statement TEXT COLLATE "C"
);
CREATE INDEX evidence_statement ON evidence(statement);
CREATE TABLE evidence_versions (
    digest         TEXT COLLATE "C" NOT NULL REFERENCES evidence(digest),
    application    TEXT COLLATE "C" NOT NULL,
    version        TEXT COLLATE "C" NOT NULL,
    verified       BOOLEAN NOT NULL,
    predicate_type TEXT COLLATE "C",
    added_at       TEXT COLLATE "C" NOT NULL,
    doc            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (application, version, digest)
);

CREATE TABLE tokens (
    id   TEXT COLLATE "C" PRIMARY KEY,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    name TEXT COLLATE "C" NOT NULL,
    doc  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE bindings (
    id  TEXT COLLATE "C" PRIMARY KEY,
    doc TEXT COLLATE "C" NOT NULL
);
CREATE TABLE policies (
    name TEXT COLLATE "C" PRIMARY KEY,
    doc  TEXT COLLATE "C" NOT NULL
);
CREATE TABLE waivers (
    id          TEXT COLLATE "C" PRIMARY KEY,
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX waivers_version ON waivers(application, version);
CREATE TABLE gate_evaluations (
    id          TEXT COLLATE "C" PRIMARY KEY,
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX gate_evaluations_version ON gate_evaluations(application, version, created_at);

CREATE TABLE trusted_releases (
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    digest      TEXT COLLATE "C" NOT NULL UNIQUE,
    record      TEXT COLLATE "C" NOT NULL,
    vsa         TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (application, version)
);
CREATE TRIGGER trusted_releases_immutable BEFORE UPDATE ON trusted_releases
    FOR EACH ROW EXECUTE FUNCTION gatehouse_refuse('trusted release records are immutable');
CREATE TABLE release_keys (
    keyid      TEXT COLLATE "C" PRIMARY KEY,
    public_pem TEXT COLLATE "C" NOT NULL,
    first_used TEXT COLLATE "C" NOT NULL
);
CREATE TABLE checkpoints (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    head_seq  BIGINT NOT NULL,
    head_hash TEXT COLLATE "C" NOT NULL,
    doc       TEXT COLLATE "C" NOT NULL
);

CREATE TABLE components (
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    purl        TEXT COLLATE "C" NOT NULL,
    ecosystem   TEXT COLLATE "C",
    name        TEXT COLLATE "C" NOT NULL,
    pkg_version TEXT COLLATE "C" NOT NULL,
    licenses    TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    PRIMARY KEY (application, version, purl)
);
CREATE INDEX components_package ON components(ecosystem, name);
CREATE TABLE advisories (
    id       TEXT COLLATE "C" PRIMARY KEY,
    modified TEXT COLLATE "C" NOT NULL,
    doc      TEXT COLLATE "C" NOT NULL
);
CREATE TABLE findings (
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    purl        TEXT COLLATE "C" NOT NULL,
    advisory    TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (application, version, purl, advisory)
);
CREATE INDEX findings_advisory ON findings(advisory);

CREATE TABLE log_heads (
    seq   BIGINT NOT NULL,
    keyid TEXT COLLATE "C" NOT NULL,
    hash  TEXT COLLATE "C" NOT NULL,
    sig   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (seq, keyid)
);
CREATE TRIGGER log_heads_append_only BEFORE UPDATE OR DELETE ON log_heads
    FOR EACH ROW EXECUTE FUNCTION gatehouse_refuse('signed log heads are append-only');
CREATE TRIGGER log_heads_no_truncate BEFORE TRUNCATE ON log_heads
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_refuse('signed log heads are append-only');

CREATE TABLE withdrawals (
    application TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    envelope    TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (application, version)
);
