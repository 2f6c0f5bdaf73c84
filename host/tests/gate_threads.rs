//! A gate's checks on the machine's cores: the verdict is the same, in the
//! order the checks were given, whichever thread ran which check; a gate
//! alone spreads over the cores, a gate that starts while another runs keeps
//! to its caller's thread.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::ThreadId;
use std::time::Duration;

use gatehouse::app::NewApplication;
use gatehouse::error::parse_input;
use gatehouse::gate::{self, Check, CheckOutput, Context, Decision, Mode, Outcome};
use gatehouse::lifecycle::{GateKind, GateRef};
use gatehouse::version::NewVersion;
use serde_json::json;

/// A check that takes `ms`, answers `outcome` and notes the thread it ran on.
struct Timed {
    id: String,
    ms: u64,
    outcome: Outcome,
    ran_on: Mutex<Option<ThreadId>>,
    /// When set, the check waits for a message before answering.
    hold: Option<Mutex<mpsc::Receiver<()>>>,
}

impl Timed {
    fn new(id: usize, ms: u64, outcome: Outcome) -> Timed {
        Timed {
            id: format!("check-{id}"),
            ms,
            outcome,
            ran_on: Mutex::new(None),
            hold: None,
        }
    }
    fn thread(&self) -> ThreadId {
        self.ran_on.lock().unwrap().expect("the check ran")
    }
}

impl Check for Timed {
    fn id(&self) -> &str {
        &self.id
    }
    fn mode(&self) -> Mode {
        Mode::Block
    }
    fn evaluate(&self, _ctx: &Context<'_>) -> CheckOutput {
        *self.ran_on.lock().unwrap() = Some(std::thread::current().id());
        if let Some(hold) = &self.hold {
            hold.lock().unwrap().recv().unwrap();
        }
        std::thread::sleep(Duration::from_millis(self.ms));
        CheckOutput {
            outcome: self.outcome,
            findings: Vec::new(),
            error: None,
            error_code: None,
        }
    }
}

fn with_context<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
    let app = parse_input::<NewApplication>("app", json!({ "key": "svc" }))
        .unwrap()
        .into_application("t")
        .unwrap();
    let version = parse_input::<NewVersion>("v", json!({ "version": "1.0.0" }))
        .unwrap()
        .into_version("svc", "default", "t")
        .unwrap();
    let gate_ref = GateRef {
        stage: "qa".into(),
        kind: GateKind::Entry,
    };
    let ctx = Context {
        application: &app,
        version: &version,
        from_stage: Some("dev"),
        to_stage: Some("qa"),
        gate: &gate_ref,
        evidence: &[],
        document: "{}",
    };
    f(&ctx)
}

/// Eight checks, the first ones slowest, the sixth failing.
fn checks() -> Vec<Timed> {
    (0..8)
        .map(|i| Timed::new(i, 16 - 2 * i as u64, if i == 5 { Outcome::Fail } else { Outcome::Pass }))
        .collect()
}

#[test]
fn checks_on_several_threads_answer_in_the_order_given() {
    with_context(|ctx| {
        for threads in [1, 2, 4] {
            let checks = checks();
            let refs: Vec<&dyn Check> = checks.iter().map(|c| c as &dyn Check).collect();
            let verdict = gate::evaluate_on(ctx, &refs, &[], threads);
            let order: Vec<&str> = verdict.checks.iter().map(|c| c.check.as_str()).collect();
            assert_eq!(order, checks.iter().map(|c| c.id.as_str()).collect::<Vec<_>>());
            let outcomes: Vec<Outcome> = verdict.checks.iter().map(|c| c.outcome).collect();
            assert_eq!(outcomes, checks.iter().map(|c| c.outcome).collect::<Vec<_>>());
            assert_eq!(verdict.decision, Decision::Blocked, "the failing check blocks");
            let used: std::collections::BTreeSet<String> = checks.iter().map(|c| format!("{:?}", c.thread())).collect();
            if threads == 1 {
                assert_eq!(used.len(), 1);
                assert!(checks.iter().all(|c| c.thread() == std::thread::current().id()));
            } else {
                assert!(used.len() > 1, "{threads} threads asked, one used");
            }
        }
    });
}

/// The tests that count on a gate being alone in this process take turns.
static ALONE: Mutex<()> = Mutex::new(());

#[test]
fn a_gate_that_starts_while_another_runs_keeps_to_its_thread() {
    if gatehouse::cores::available() < 2 {
        return; // one core: every gate keeps to its thread anyway
    }
    let _turn = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    with_context(|ctx| {
        // Gate A, alone: it spreads. One of its checks holds it open.
        let (release, held) = mpsc::channel();
        let mut first = checks();
        first[0].hold = Some(Mutex::new(held));
        let (started_tx, started) = mpsc::channel();
        std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                let refs: Vec<&dyn Check> = first.iter().map(|c| c as &dyn Check).collect();
                started_tx.send(()).unwrap();
                gate::evaluate(ctx, &refs, &[])
            });
            started.recv().unwrap();
            // Wait until A is inside its checks.
            while first[0].ran_on.lock().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Gate B, while A runs: on the caller's thread only.
            let second = checks();
            let refs: Vec<&dyn Check> = second.iter().map(|c| c as &dyn Check).collect();
            let verdict = gate::evaluate(ctx, &refs, &[]);
            assert_eq!(verdict.checks.len(), 8);
            assert!(
                second.iter().all(|c| c.thread() == std::thread::current().id()),
                "a gate started during another ran on other threads"
            );
            release.send(()).unwrap();
            let a = a.join().unwrap();
            assert_eq!(a.decision, Decision::Blocked);
            let used: std::collections::BTreeSet<String> = first.iter().map(|c| format!("{:?}", c.thread())).collect();
            assert!(used.len() > 1, "a gate alone used one thread");
        });
        // Alone again: it spreads again.
        let third = checks();
        let refs: Vec<&dyn Check> = third.iter().map(|c| c as &dyn Check).collect();
        gate::evaluate(ctx, &refs, &[]);
        let used: std::collections::BTreeSet<String> = third.iter().map(|c| format!("{:?}", c.thread())).collect();
        assert!(used.len() > 1, "the count of running gates came back down");
    });
}

/// A gate of fewer than `SPREAD_FROM_CHECKS` checks keeps to the caller's
/// thread even alone (starting a thread costs more than it gains there);
/// one of that many spreads.
#[test]
fn a_small_gate_keeps_to_its_thread_even_alone() {
    if gatehouse::cores::available() < 2 {
        return; // one core: every gate keeps to its thread anyway
    }
    let _turn = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    with_context(|ctx| {
        let small: Vec<Timed> = checks().into_iter().take(gate::SPREAD_FROM_CHECKS - 1).collect();
        let refs: Vec<&dyn Check> = small.iter().map(|c| c as &dyn Check).collect();
        gate::evaluate(ctx, &refs, &[]);
        assert!(small.iter().all(|c| c.thread() == std::thread::current().id()));
        let enough: Vec<Timed> = checks().into_iter().take(gate::SPREAD_FROM_CHECKS).collect();
        let refs: Vec<&dyn Check> = enough.iter().map(|c| c as &dyn Check).collect();
        gate::evaluate(ctx, &refs, &[]);
        let used: std::collections::BTreeSet<String> = enough.iter().map(|c| format!("{:?}", c.thread())).collect();
        assert!(
            used.len() > 1,
            "a gate of {} checks alone used one thread",
            gate::SPREAD_FROM_CHECKS
        );
    });
}
