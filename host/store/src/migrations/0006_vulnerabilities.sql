-- 6: SBOM components per version, advisories, findings.
CREATE TABLE components (
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    purl        TEXT NOT NULL,
    ecosystem   TEXT,
    name        TEXT NOT NULL,
    pkg_version TEXT NOT NULL,
    PRIMARY KEY (application, version, purl)
) STRICT;
CREATE INDEX components_package ON components(ecosystem, name);
CREATE TABLE advisories (
    id       TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    doc      TEXT NOT NULL
) STRICT;
CREATE TABLE findings (
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    purl        TEXT NOT NULL,
    advisory    TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (application, version, purl, advisory)
) STRICT;
CREATE INDEX findings_advisory ON findings(advisory);
