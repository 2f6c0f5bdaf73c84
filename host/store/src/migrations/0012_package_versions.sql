-- 12: components indexed by package version. A re-match after an advisory
-- import reads the distinct versions shipped of each affected package, then
-- only the components at the versions found affected (the (ecosystem, name)
-- index it replaces is this one's prefix).
CREATE INDEX components_package_version ON components(ecosystem, name, pkg_version);
DROP INDEX components_package;
