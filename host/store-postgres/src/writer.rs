//! The one connection a sidecar writes through, and the transaction its
//! writes run in.
//!
//! Every change of this process runs on the writer connection, batched by
//! `gatehouse_store::group`: the writes that arrive while a commit is in
//! flight share the next transaction (group commit), each in a savepoint of
//! its own so a refused one is undone alone. The pool's connections only
//! read. A writer connection the database closed is replaced at the next
//! batch's `BEGIN`.

use crate::session::Session;
use crate::{Connect, causes, pg};
use gatehouse_core::error::{Error, Result};
use gatehouse_store::group::{Batching, CommitFailed, Joining};

pub(crate) struct Writer {
    connect: Connect,
    conn: Option<Session>,
}

impl Writer {
    /// Connects at the first batch.
    pub(crate) fn new(connect: Connect) -> Writer {
        Writer { connect, conn: None }
    }

    /// The transaction a batch opened.
    pub(crate) fn tx(&mut self) -> Result<Tx<'_>> {
        self.conn
            .as_mut()
            .map(|session| Tx { session })
            .ok_or_else(|| Error::internal_msg("no database transaction is open"))
    }
}

impl Batching for Writer {
    fn begin(&mut self) -> Result<()> {
        // A connection the database closed since its last batch (a restart,
        // an idle timeout) fails its BEGIN: nothing else was sent, so the
        // batch starts again on a new connection.
        if let Some(open) = &mut self.conn {
            match open.client.batch_execute("BEGIN") {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.conn = None;
                    let e = pg(e);
                    if !matches!(e, Error::Unavailable { .. }) {
                        return Err(e);
                    }
                }
            }
        }
        let mut client = self.connect.client()?;
        client.batch_execute("BEGIN").map_err(pg)?;
        self.conn = Some(Session::new(client));
        Ok(())
    }

    fn commit(&mut self) -> std::result::Result<(), CommitFailed> {
        let Some(open) = &mut self.conn else {
            return Err(CommitFailed::Refused(
                "the connection was lost before the commit".into(),
            ));
        };
        open.client.batch_execute("COMMIT").map_err(|e| {
            let text = causes(&e);
            if e.as_db_error().is_some() {
                CommitFailed::Refused(text)
            } else {
                // The answer never came: the commit may have happened.
                self.conn = None;
                CommitFailed::Unknown(text)
            }
        })
    }

    fn rollback(&mut self) {
        if let Some(open) = &mut self.conn
            && open.client.batch_execute("ROLLBACK").is_err()
        {
            self.conn = None;
        }
    }
}

/// The open transaction of a batch on the writer connection: the session's
/// query methods, inside the transaction.
pub struct Tx<'a> {
    session: &'a mut Session,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session
    }
}

impl Tx<'_> {
    /// Run `f` as a job of the batch: a job that joined an open batch runs
    /// in a savepoint, rolled back alone when it fails; the batch's first
    /// job needs none (its failure rolls the whole transaction back).
    pub(crate) fn job<T>(&mut self, joining: Joining, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if !joining.0 {
            return f(self);
        }
        self.batch_execute("SAVEPOINT job").map_err(pg)?;
        match f(self) {
            Ok(done) => {
                self.batch_execute("RELEASE SAVEPOINT job").map_err(pg)?;
                Ok(done)
            }
            Err(e) => {
                self.batch_execute("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                    .map_err(pg)?;
                Err(e)
            }
        }
    }
}
