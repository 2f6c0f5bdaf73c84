-- 7: the licences an SBOM states for each component (a JSON array).
ALTER TABLE components ADD COLUMN licenses TEXT NOT NULL DEFAULT '[]';
