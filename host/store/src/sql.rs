//! SQLite's errors into the domain's: a failed statement is an internal
//! error (nothing was decided) that keeps rusqlite's error as its source.
//! The core's `Error` cannot name rusqlite (the core builds no SQL), so the
//! conversion is this crate's, spelled `.sql()?` where `?` meets rusqlite.

use gatehouse_core::error::Error;

pub(crate) fn error(e: rusqlite::Error) -> Error {
    Error::internal("store error", e)
}

/// `.sql()` turns a rusqlite result into the domain's.
pub(crate) trait Sql<T> {
    fn sql(self) -> Result<T, Error>;
}

impl<T> Sql<T> for rusqlite::Result<T> {
    fn sql(self) -> Result<T, Error> {
        self.map_err(error)
    }
}
