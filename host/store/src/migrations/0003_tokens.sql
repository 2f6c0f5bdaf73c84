-- 3: bearer tokens (only the SHA-256 of each secret).
CREATE TABLE tokens (
    id   TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    doc  TEXT NOT NULL
) STRICT;
