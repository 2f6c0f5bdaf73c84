-- 5: Trusted Release records, the release keys that signed them, signed log checkpoints.
CREATE TABLE trusted_releases (
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    record      TEXT NOT NULL,
    vsa         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (application, version)
) STRICT;
CREATE TRIGGER trusted_releases_immutable BEFORE UPDATE ON trusted_releases
    BEGIN SELECT RAISE(ABORT, 'trusted release records are immutable'); END;
CREATE TABLE release_keys (
    keyid      TEXT PRIMARY KEY,
    public_pem TEXT NOT NULL,
    first_used TEXT NOT NULL
) STRICT;
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    head_seq   INTEGER NOT NULL,
    head_hash  TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
