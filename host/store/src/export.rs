//! A whole store as rows, table by table, for moving it to another backend
//! (`gatehouse migrate`). The tables come in an order that satisfies every
//! foreign key, each row as the plain values SQLite holds.

/// Every table of the record, parents before children.
pub const TABLES: &[&str] = &[
    "applications",
    "versions",
    "lifecycles",
    "lifecycle_projects",
    "activity",
    "log_format",
    "log_heads",
    "trusted_keys",
    "artifact_digests",
    "evidence",
    "evidence_versions",
    "tokens",
    "bindings",
    "policies",
    "waivers",
    "gate_evaluations",
    "trusted_releases",
    "release_keys",
    "checkpoints",
    "withdrawals",
    "components",
    "advisories",
    "findings",
    "package_findings",
    "advisory_packages",
];

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// Rows of one table, in batches: its name, its column names, the rows.
pub type Batch<'a> = (&'a str, &'a [String], &'a [Vec<Cell>]);

/// Rows handed over at a time.
pub const BATCH_ROWS: usize = 500;
