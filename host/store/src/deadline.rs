//! The answer a client gets must never contradict the store. A request that
//! runs past its time limit is not abandoned while its work goes on to
//! commit: the work carries the deadline (on the thread that runs it), every
//! commit checks it first, and the HTTP layer waits for state-changing work
//! to end, so the answer is either what was committed or a timeout with
//! nothing committed.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// Set the deadline of the work on this thread (`limit` after `started`)
/// until the guard is dropped.
pub fn set(started: Instant, limit: Duration) -> Guard {
    DEADLINE.with(|d| d.set(Some((started + limit, limit))));
    Guard
}

/// Clears the thread's deadline when dropped (blocking-pool threads are reused).
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}

/// `Err(limit)` when this thread's work has a deadline and it has passed.
pub fn check() -> Result<(), Duration> {
    match DEADLINE.with(Cell::get) {
        Some((at, limit)) if Instant::now() >= at => Err(limit),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_holds_on_its_thread_until_the_guard_drops() {
        assert!(check().is_ok(), "no deadline, no limit");
        {
            let _g = set(Instant::now() - Duration::from_secs(2), Duration::from_secs(1));
            assert_eq!(check(), Err(Duration::from_secs(1)));
            std::thread::spawn(|| assert!(check().is_ok(), "another thread's work is not bound"))
                .join()
                .unwrap();
        }
        assert!(check().is_ok(), "cleared with the guard");
        let _g = set(Instant::now(), Duration::from_secs(60));
        assert!(check().is_ok());
    }
}
