//! What clients may send, bounded before it costs anything: open connections
//! (a cap; past it a new connection is closed at once), failed accepts
//! (backed off, logged at most once a second), and request bodies (a limit
//! per route, a deadline, and a budget of bytes buffered across all
//! connections, so many mid-sized bodies cannot add up to an exhausted host).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// A log line that says at most once per `every` what happened, and how many
/// times since it last said so.
#[derive(Debug)]
pub struct Throttled {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    pub fn new(every: Duration) -> Throttled {
        Throttled {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when the line should be written now, `n` being how many
    /// occurrences it stands for; `None` to stay quiet.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed) + 1)
            }
        }
    }
}

/// How long to wait after a failed accept: doubling from 1 ms to 1 s while
/// accepts keep failing (most often: out of descriptors, which only closing
/// connections cures), back to nothing after one succeeds.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    const MIN: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_secs(1);

    pub fn failed(&mut self) -> Duration {
        self.next = (self.next * 2).clamp(Self::MIN, Self::MAX);
        self.next
    }

    pub fn succeeded(&mut self) {
        self.next = Duration::ZERO;
    }
}

/// Bytes buffered for request bodies, across all connections.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl BodyBudget {
    pub fn new(total: usize) -> BodyBudget {
        let total = total.min(Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Take `n` more bytes of the budget, or refuse at once: a client that
    /// finds the budget spent is told to come back, never queued.
    fn take(&self, n: usize, held: &mut Option<OwnedSemaphorePermit>) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let n32 = u32::try_from(n).map_err(|_| self.busy())?;
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(n32)
            .map_err(|_| self.busy())?;
        match held {
            Some(h) => h.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }

    fn busy(&self) -> Error {
        crate::metrics::record_body_refused();
        Error::Busy {
            reason: format!(
                "request bodies of {} bytes are being received already (body_budget_bytes); retry shortly",
                self.total
            ),
        }
    }
}

/// A request body read in full, and its share of the budget (returned when
/// the request is answered).
pub struct ReadBody {
    pub bytes: Bytes,
    pub _budget: Option<OwnedSemaphorePermit>,
}

/// Read a body of at most `limit` bytes within `deadline`, holding its bytes
/// against the shared budget. A declared length over the limit is refused
/// before a byte is read.
pub async fn read_body(
    mut body: Incoming,
    declared: Option<u64>,
    limit: usize,
    budget: &BodyBudget,
    deadline: Duration,
) -> Result<ReadBody> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge { limit });
    }
    let mut held = None;
    let mut buf: Vec<u8> = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::Malformed {
                what: "request body".into(),
                detail: e.to_string(),
            })?;
            let Ok(data) = frame.into_data() else { continue };
            if buf.len() + data.len() > limit {
                return Err(Error::TooLarge { limit });
            }
            budget.take(data.len(), &mut held)?;
            buf.extend_from_slice(&data);
        }
        Ok(())
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(Ok(())) => Ok(ReadBody {
            bytes: Bytes::from(buf),
            _budget: held,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::SlowClient { after: deadline }),
    }
}

/// The soft limit on open descriptors of this process (Linux: from
/// `/proc/self/limits`), when it can be known.
pub fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Descriptors kept for everything but client connections: the store, the
/// plugin cache, plugins' granted files, webhook deliveries.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// The connection cap in force: the configured one, lowered when the
/// descriptor limit could not hold it (so the cap, not the kernel, refuses).
pub fn effective_connection_cap(configured: usize, descriptors: Option<u64>) -> usize {
    match descriptors {
        Some(limit) => {
            let room = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
            configured.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_log_says_how_many_it_stood_for() {
        let mut t = Throttled::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(1));
        for i in 1..1000 {
            assert_eq!(t.hit(t0 + Duration::from_micros(i)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_millis(1001)), Some(1000));
    }

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        assert_eq!(b.failed(), Duration::from_millis(1));
        assert_eq!(b.failed(), Duration::from_millis(2));
        for _ in 0..20 {
            b.failed();
        }
        assert_eq!(b.failed(), Duration::from_secs(1));
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(1));
    }

    #[test]
    fn budget_is_shared_and_returned() {
        let budget = BodyBudget::new(100);
        let mut a = None;
        budget.take(60, &mut a).unwrap();
        budget.take(30, &mut a).unwrap();
        let mut b = None;
        let e = budget.take(20, &mut b).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e}");
        drop(a);
        budget.take(100, &mut b).unwrap();
    }

    #[test]
    fn connection_cap_leaves_room_for_the_store_and_plugins() {
        assert_eq!(effective_connection_cap(512, Some(1024)), 512);
        assert_eq!(effective_connection_cap(512, Some(256)), 128);
        assert_eq!(effective_connection_cap(512, Some(64)), 1);
        assert_eq!(effective_connection_cap(512, None), 512);
    }
}
