//! Work split over the machine's cores, for the pure computations worth it:
//! a portfolio's re-match and a gate's checks. Scoped threads only: nothing
//! outlives the call, a panic in a share is passed on to the caller, and
//! each helper runs inside the caller's tracing span (so a check's log lines
//! keep their request).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The threads worth using: one per core, at most eight.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
}

/// `work` on consecutive shares of `items`, one per core, the results
/// joined in the order of the items (for many items of even cost).
pub fn in_shares<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let threads = available();
    if threads == 1 || items.len() < 2 {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    let work = &work;
    let span = tracing::Span::current();
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let span = span.clone();
                scope.spawn(move || span.in_scope(|| work(part)))
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// The threads that help the caller in [`each`], kept for the process: a
/// thread started for each gate cost more than it gained (its start, a cold
/// stack and allocator cache; docs/benchmarks.md). Its own pool, not rayon's
/// global one, which wasmtime fills with compilations that take seconds.
fn helpers() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(available().saturating_sub(1).max(1))
            .thread_name(|i| format!("gatehouse-helper-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// `work` on each item on up to `threads` threads (the caller's among
/// them), each thread taking the next item when it is free — for a few
/// items of uneven cost; the results in the order of the items.
pub fn each<T: Sync, R: Send>(items: &[T], threads: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    // Each thread keeps the positions of the items it took.
    let positioned = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, work(item)));
        }
        done
    };
    let positioned = &positioned;
    let span = &tracing::Span::current();
    let Some(pool) = helpers() else {
        return items.iter().map(work).collect();
    };
    let helped = std::sync::Mutex::new(Vec::new());
    let mut all = pool.in_place_scope(|scope| {
        for _ in 1..threads {
            let helped = &helped;
            scope.spawn(move |_| {
                let done = span.in_scope(positioned);
                helped
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(done);
            });
        }
        positioned()
    });
    all.extend(helped.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner));
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_worked_once_and_answered_in_its_place() {
        let items: Vec<u64> = (0..101).collect();
        for threads in [1, 2, 3, 8, 200] {
            let calls = AtomicUsize::new(0);
            let out = each(&items, threads, |n| {
                calls.fetch_add(1, Ordering::Relaxed);
                n * n
            });
            assert_eq!(
                out,
                items.iter().map(|n| n * n).collect::<Vec<_>>(),
                "{threads} threads"
            );
            assert_eq!(calls.load(Ordering::Relaxed), items.len());
        }
        let shared = in_shares(&items, |part| part.iter().map(|n| n + 1).collect());
        assert_eq!(shared, items.iter().map(|n| n + 1).collect::<Vec<_>>());
        assert!(each(&Vec::<u64>::new(), 4, |n| *n).is_empty());
    }

    #[test]
    fn a_panic_in_a_helper_reaches_the_caller() {
        let items: Vec<u64> = (0..16).collect();
        let caught = std::panic::catch_unwind(|| each(&items, 4, |n| assert_ne!(*n, 11, "item 11")));
        assert!(caught.is_err());
    }
}
