-- 3: findings per package version (SQLite's migration 13). A re-match
-- stores one row per package version and advisory it decides; a version's
-- findings are its components joined to these when read. The per-version
-- rows of `findings` that earlier builds wrote stay and are read beside
-- these; nothing writes them any more (an advisory updated or withdrawn
-- still deletes its own).
CREATE TABLE package_findings (
    ecosystem   TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    pkg_version TEXT COLLATE "C" NOT NULL,
    advisory    TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (ecosystem, name, pkg_version, advisory)
);
CREATE INDEX package_findings_advisory ON package_findings(advisory);
-- When each component was attached (NULL for those stored before 3).
ALTER TABLE components ADD COLUMN attached_at TEXT COLLATE "C";
-- Components by package version, covering what a re-match reads of those
-- at an affected package version, so it can scan the index alone; it
-- replaces 2's index.
CREATE INDEX components_shipped ON components(ecosystem, name, pkg_version) INCLUDE (application, version, purl);
DROP INDEX components_package_version;
-- The artifact-digest index by version: every version update re-indexes its
-- artifacts by (application, version), which the table's key (digest first)
-- does not serve.
CREATE INDEX artifact_digests_version ON artifact_digests(application, version);
-- Advisories by the packages they name: an SBOM upload matches its version
-- against the advisories naming its packages instead of loading every one.
-- Filled for the advisories already stored.
CREATE TABLE advisory_packages (
    ecosystem TEXT COLLATE "C" NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,
    advisory  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (ecosystem, name, advisory)
);
CREATE INDEX advisory_packages_advisory ON advisory_packages(advisory);
INSERT INTO advisory_packages (ecosystem, name, advisory)
    SELECT x->>'ecosystem', x->>'name', a.id
    FROM advisories a, jsonb_array_elements(a.doc::jsonb->'affected') x
    ON CONFLICT DO NOTHING;
