//! Group commit: the writes that arrive while a commit is in flight are
//! committed together, in one transaction and so one fsync, without
//! weakening durability — every write is acknowledged only after the
//! commit that holds it.
//!
//! Each writing thread runs its own job on the one writer connection (jobs
//! borrow the caller's data; nothing crosses threads but the connection,
//! behind the lock). The first thread to find no transaction open is the
//! batch's leader: it begins the transaction and runs its job; then it lets
//! every thread that was already waiting for the connection run its job in
//! the same transaction; then it commits and tells each its outcome. A
//! follower's job runs in a savepoint of its own (the backend's part), so
//! one that is refused is undone alone and the others commit. The leader's
//! job runs first and alone, so it needs none: when it is refused the
//! transaction is rolled back and the waiting writers start the next batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use gatehouse_core::error::{Error, Result};

/// What a connection must do for the batch around the jobs.
pub trait Batching {
    fn begin(&mut self) -> Result<()>;
    /// Commit (durably).
    fn commit(&mut self) -> std::result::Result<(), CommitFailed>;
    fn rollback(&mut self);
}

/// Why a batch's commit failed: what every member is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitFailed {
    /// The database refused the commit: nothing of the batch was stored.
    Refused(String),
    /// The connection to the database broke while the commit was under way:
    /// the batch may or may not have been stored.
    Unknown(String),
}

/// Whether a job joins an open batch (it must then undo itself alone when it
/// fails) or leads a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joining(pub bool);

/// The most jobs one batch takes; past it the leader commits and the rest
/// form the next batch.
const MAX_BATCH: usize = 256;

struct State<C> {
    conn: C,
    /// A transaction is open and taking jobs.
    open: bool,
    /// The current (or last) batch.
    batch: u64,
    /// Jobs run in the open batch.
    jobs: usize,
    /// Of those, the ones that succeeded (their writes commit with the batch).
    done: usize,
    /// A finished batch's outcome, and how many of its members have not read it yet.
    outcomes: HashMap<u64, (std::result::Result<(), CommitFailed>, usize)>,
}

pub struct Group<C> {
    state: Mutex<State<C>>,
    /// A follower joined (the leader counts them).
    joined: Condvar,
    /// A batch was committed (or failed).
    finished: Condvar,
    /// Writers that want the connection: arrived, job not run yet.
    waiting: AtomicUsize,
    commits: AtomicU64,
    committed_jobs: AtomicU64,
}

impl<C: Batching> Group<C> {
    pub fn new(conn: C) -> Group<C> {
        Group {
            state: Mutex::new(State {
                conn,
                open: false,
                batch: 0,
                jobs: 0,
                done: 0,
                outcomes: HashMap::new(),
            }),
            joined: Condvar::new(),
            finished: Condvar::new(),
            waiting: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            committed_jobs: AtomicU64::new(0),
        }
    }

    /// Commits so far, and the successful jobs they held (their ratio is the mean batch).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.committed_jobs.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> Result<MutexGuard<'_, State<C>>> {
        self.state
            .lock()
            .map_err(|_| Error::internal_msg("store lock poisoned"))
    }

    /// Run `job` in the open batch (or a new one) and return its result once
    /// the batch is committed; a job's own error is its answer whatever the
    /// batch does, a failed commit is every member's. `job` is told whether
    /// it joins a batch (and so must undo itself on failure: a savepoint) or
    /// leads one (its failure rolls the transaction back).
    pub fn run<R>(&self, job: impl FnOnce(&mut C, Joining) -> Result<R>) -> Result<R> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut st = match self.lock() {
            Ok(st) => st,
            Err(e) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.joined.notify_all();
                return Err(e);
            }
        };
        let leader = !st.open;
        if leader && let Err(e) = st.conn.begin() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            drop(st);
            self.joined.notify_all();
            return Err(e);
        }
        if leader {
            st.open = true;
            st.batch += 1;
            st.jobs = 0;
            st.done = 0;
        }
        let batch = st.batch;
        let result = job(&mut st.conn, Joining(!leader));
        st.jobs += 1;
        st.done += usize::from(result.is_ok());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if !leader {
            self.joined.notify_all();
            return self.await_outcome(st, batch, result);
        }
        if result.is_err() {
            // Alone in the batch so far: undoing the transaction undoes the job.
            st.conn.rollback();
            st.open = false;
            return result;
        }
        // Let the writers already waiting for the connection join, then commit.
        while self.waiting.load(Ordering::SeqCst) > 0 && st.jobs < MAX_BATCH {
            st = self
                .joined
                .wait(st)
                .map_err(|_| Error::internal_msg("store lock poisoned"))?;
        }
        let jobs = st.jobs;
        let outcome = st.conn.commit();
        if outcome.is_err() {
            st.conn.rollback();
        } else {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.committed_jobs.fetch_add(st.done as u64, Ordering::Relaxed);
        }
        st.open = false;
        if jobs > 1 {
            st.outcomes.insert(batch, (outcome.clone(), jobs - 1));
        }
        drop(st);
        self.finished.notify_all();
        settle(result, outcome)
    }

    fn await_outcome<R>(&self, mut st: MutexGuard<'_, State<C>>, batch: u64, result: Result<R>) -> Result<R> {
        loop {
            if let Some((outcome, unread)) = st.outcomes.get_mut(&batch) {
                let outcome = outcome.clone();
                *unread -= 1;
                if *unread == 0 {
                    st.outcomes.remove(&batch);
                }
                return settle(result, outcome);
            }
            st = self
                .finished
                .wait(st)
                .map_err(|_| Error::internal_msg("store lock poisoned"))?;
        }
    }
}

/// A job's answer once its batch is over.
fn settle<R>(result: Result<R>, outcome: std::result::Result<(), CommitFailed>) -> Result<R> {
    match (result, outcome) {
        (Err(e), _) => Err(e),
        (Ok(r), Ok(())) => Ok(r),
        (Ok(_), Err(CommitFailed::Refused(e))) => Err(Error::internal_msg(format!(
            "the commit failed ({e}); nothing of this request was stored"
        ))),
        (Ok(_), Err(CommitFailed::Unknown(e))) => Err(Error::Unavailable {
            reason: format!(
                "the database connection broke during the commit ({e}); whether this request was stored is unknown: read it back before retrying"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// A connection that records what was committed, with a slow commit.
    #[derive(Default)]
    struct Ledger {
        open: Vec<u32>,
        committed: Vec<u32>,
        fail_next_commit: bool,
    }

    impl Batching for Ledger {
        fn begin(&mut self) -> Result<()> {
            assert!(self.open.is_empty(), "a transaction began inside another");
            Ok(())
        }
        fn commit(&mut self) -> std::result::Result<(), CommitFailed> {
            std::thread::sleep(std::time::Duration::from_millis(5));
            if std::mem::take(&mut self.fail_next_commit) {
                return Err(CommitFailed::Refused("disk full".into()));
            }
            self.committed.append(&mut self.open);
            Ok(())
        }
        fn rollback(&mut self) {
            self.open.clear();
        }
    }

    #[test]
    fn writes_that_arrive_during_a_commit_share_the_next_one_and_each_gets_its_answer() {
        let group = Arc::new(Group::new(Ledger::default()));
        let start = Arc::new(Barrier::new(32));
        let handles: Vec<_> = (0..32u32)
            .map(|n| {
                let (group, start) = (group.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    group.run(|l, _| {
                        if n % 5 == 0 {
                            return Err(Error::conflict(format!("{n} refused")));
                        }
                        l.open.push(n);
                        Ok(n)
                    })
                })
            })
            .collect();
        for (n, h) in handles.into_iter().enumerate() {
            match h.join().unwrap() {
                Ok(v) => assert_eq!(v as usize, n),
                Err(e) => assert!(n % 5 == 0 && e.to_string().contains("refused"), "{n}: {e}"),
            }
        }
        let (commits, jobs) = group.stats();
        assert_eq!(jobs, 32 - 7, "the writes that were not refused");
        assert!(commits < 32, "some writes shared a commit: {commits} commits");
        let st = group.lock().unwrap();
        let mut committed = st.conn.committed.clone();
        committed.sort_unstable();
        assert_eq!(committed, (0..32).filter(|n| n % 5 != 0).collect::<Vec<_>>());
        assert!(st.outcomes.is_empty(), "every outcome was read");
    }

    #[test]
    fn a_commit_whose_answer_was_lost_is_unavailable_and_says_the_outcome_is_unknown() {
        let e = settle(Ok(()), Err(CommitFailed::Unknown("connection reset".into()))).unwrap_err();
        assert_eq!(e.kind(), gatehouse_core::error::Kind::Unavailable);
        assert!(
            e.to_string().contains("unknown") && e.to_string().contains("connection reset"),
            "{e}"
        );
        // A job refused on its own keeps its own answer whatever the commit did.
        let e = settle::<()>(Err(Error::conflict("taken")), Err(CommitFailed::Unknown("x".into()))).unwrap_err();
        assert_eq!(e.kind(), gatehouse_core::error::Kind::Conflict);
        let e = settle(Ok(()), Err(CommitFailed::Refused("disk full".into()))).unwrap_err();
        assert!(e.to_string().contains("nothing of this request was stored"), "{e}");
    }

    #[test]
    fn a_failed_commit_is_every_members_answer() {
        let group = Arc::new(Group::new(Ledger {
            fail_next_commit: true,
            ..Ledger::default()
        }));
        let r = group.run(|l, _| {
            l.open.push(1);
            Ok(())
        });
        assert!(r.unwrap_err().to_string().contains("disk full"));
        assert!(group.lock().unwrap().conn.committed.is_empty());
        group
            .run(|l, _| {
                l.open.push(2);
                Ok(())
            })
            .unwrap();
        assert_eq!(group.lock().unwrap().conn.committed, [2]);
    }
}
