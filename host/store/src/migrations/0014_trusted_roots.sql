-- 14: Sigstore trusted roots (trusted_root.json) the operator imported, by
-- name; `doc` holds the name, digest, who imported it and the file itself.
CREATE TABLE trusted_roots (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
) STRICT;
