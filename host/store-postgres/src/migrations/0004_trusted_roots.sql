-- 4: Sigstore trusted roots (SQLite's migration 14), by name.
CREATE TABLE trusted_roots (
    name TEXT COLLATE "C" PRIMARY KEY,
    doc  TEXT COLLATE "C" NOT NULL
);
