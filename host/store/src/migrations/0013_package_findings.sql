-- 13: findings per package version. A re-match stores one row per package
-- version and advisory it decides; a version's findings are its components
-- joined to these when read, so an advisory naming a package that a
-- thousand versions ship is one row, not a thousand. The per-version rows
-- of `findings` that earlier builds wrote stay and are read beside these;
-- nothing writes them any more (an advisory updated or withdrawn still
-- deletes its own).
CREATE TABLE package_findings (
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    pkg_version TEXT NOT NULL,
    advisory    TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, pkg_version, advisory)
) STRICT;
CREATE INDEX package_findings_advisory ON package_findings(advisory);
-- When each component was attached (NULL for those stored before 13): a
-- version's finding was found when both its component and the package's
-- finding were there.
ALTER TABLE components ADD COLUMN attached_at TEXT;
-- Components by package version, covering what a re-match reads of those
-- at an affected package version (which application, version and purl), so
-- it reads the index alone; it replaces 12's index, its prefix.
CREATE INDEX components_shipped ON components(ecosystem, name, pkg_version, application, version, purl);
DROP INDEX components_package_version;
-- The artifact-digest index by version: every version update re-indexes its
-- artifacts (DELETE … WHERE application = ? AND version = ?), which scanned
-- the whole table without this (the table's key starts with the digest).
CREATE INDEX artifact_digests_version ON artifact_digests(application, version);
-- Advisories by the packages they name: an SBOM upload matches its version
-- against the advisories naming its packages, read by these, instead of
-- loading every stored advisory. Filled for the advisories already stored.
CREATE TABLE advisory_packages (
    ecosystem TEXT NOT NULL,
    name      TEXT NOT NULL,
    advisory  TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, advisory)
) STRICT;
CREATE INDEX advisory_packages_advisory ON advisory_packages(advisory);
INSERT OR IGNORE INTO advisory_packages (ecosystem, name, advisory)
    SELECT json_extract(x.value, '$.ecosystem'), json_extract(x.value, '$.name'), a.id
    FROM advisories a, json_each(a.doc, '$.affected') x;
-- The distinct package versions stored components ship (kept by every
-- SBOM attached; one of an application deleted since may stay, which costs
-- a re-match one decision): a re-match looks up a feed's packages in these
-- few rows instead of in every component.
CREATE TABLE shipped_packages (
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    pkg_version TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, pkg_version)
) STRICT;
INSERT OR IGNORE INTO shipped_packages (ecosystem, name, pkg_version)
    SELECT DISTINCT ecosystem, name, pkg_version FROM components WHERE ecosystem IS NOT NULL;
