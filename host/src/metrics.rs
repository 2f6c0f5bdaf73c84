//! Process metrics in the Prometheus text exposition format: request counts
//! and latency histograms by route and status, gate decisions, evidence
//! verdicts. One registry per process; recording is a short critical section.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    /// (route, method, status) → latency histogram.
    requests: BTreeMap<(String, String, u16), Histogram>,
    /// (gate kind, decision) → count.
    gates: BTreeMap<(String, String), u64>,
    /// (check outcome) → count.
    checks: BTreeMap<String, u64>,
    /// (verified|refused code) → count.
    evidence: BTreeMap<String, u64>,
    /// Connections closed at once because `max_connections` were open.
    connections_refused: u64,
    /// Failed accepts (out of descriptors, most often).
    accept_errors: u64,
    /// Requests answered `busy` because the body budget was spent.
    bodies_refused: u64,
}

/// Open client connections (a gauge, kept outside the lock).
static OPEN_CONNECTIONS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The methods a client may name that get a series of their own; any other
/// method string is `other`, so a client cannot grow the registry.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

fn method_label(method: &str) -> &'static str {
    METHODS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

/// A label value as the text exposition format writes it: backslash, double
/// quote and line feed escaped, so no value can end its label or its line.
/// Escaped once, when recorded. (Hand-written: three replacements; the
/// crates that do it, prometheus-client among them, bring their own registry
/// and the OpenMetrics format with them.)
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn with<F: FnOnce(&mut Registry)>(f: F) {
    if let Ok(mut r) = registry().lock() {
        f(&mut r);
    }
}

pub fn record_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    with(|r| {
        let h = r
            .requests
            .entry((label(route), method_label(method).to_string(), status))
            .or_default();
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound
                && let Some(c) = h.counts.get_mut(i)
            {
                *c += 1;
            }
        }
    });
}

pub fn connection_opened() {
    OPEN_CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

pub fn connection_closed() {
    OPEN_CONNECTIONS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

pub fn record_connection_refused() {
    with(|r| r.connections_refused += 1);
}

pub fn record_accept_error() {
    with(|r| r.accept_errors += 1);
}

pub fn record_body_refused() {
    with(|r| r.bodies_refused += 1);
}

pub fn record_gate(kind: &str, decision: &str) {
    with(|r| *r.gates.entry((label(kind), label(decision))).or_default() += 1);
}

pub fn record_check(outcome: &str) {
    with(|r| *r.checks.entry(label(outcome)).or_default() += 1);
}

pub fn record_evidence(verdict: &str) {
    with(|r| *r.evidence.entry(label(verdict)).or_default() += 1);
}

/// The exposition text.
/// What the store reports of itself, for [`render`].
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreGauges {
    /// Commits and the writes they held (group commit).
    pub commits: Option<(u64, u64)>,
    /// Database connections: open, idle.
    pub pool: Option<(u32, u32)>,
}

pub fn render(store: StoreGauges) -> String {
    let mut out = String::new();
    if let Some((commits, writes)) = store.commits {
        let _ = writeln!(
            out,
            "# HELP gatehouse_store_commits_total Store commits (each one fsync).\n# TYPE gatehouse_store_commits_total counter\ngatehouse_store_commits_total {commits}\n\
             # HELP gatehouse_store_committed_writes_total Writes committed; divided by gatehouse_store_commits_total, the mean group commit.\n# TYPE gatehouse_store_committed_writes_total counter\ngatehouse_store_committed_writes_total {writes}"
        );
    }
    if let Some((open, idle)) = store.pool {
        let _ = writeln!(
            out,
            "# HELP gatehouse_database_connections Connections of the database pool, by state.\n# TYPE gatehouse_database_connections gauge\n\
             gatehouse_database_connections{{state=\"idle\"}} {idle}\ngatehouse_database_connections{{state=\"busy\"}} {}",
            open.saturating_sub(idle)
        );
    }
    let Ok(r) = registry().lock() else {
        return out;
    };
    out.push_str("# HELP gatehouse_http_requests_total HTTP requests by route template, method and status.\n");
    out.push_str("# TYPE gatehouse_http_requests_total counter\n");
    for ((route, method, status), h) in &r.requests {
        let _ = writeln!(
            out,
            "gatehouse_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
            h.count
        );
    }
    out.push_str("# HELP gatehouse_http_request_duration_seconds Time from request head to response.\n");
    out.push_str("# TYPE gatehouse_http_request_duration_seconds histogram\n");
    for ((route, method, status), h) in &r.requests {
        let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "gatehouse_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "gatehouse_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(
            out,
            "gatehouse_http_request_duration_seconds_count{{{labels}}} {}",
            h.count
        );
    }
    out.push_str("# HELP gatehouse_gate_decisions_total Gate verdicts by gate kind and decision.\n");
    out.push_str("# TYPE gatehouse_gate_decisions_total counter\n");
    for ((kind, decision), n) in &r.gates {
        let _ = writeln!(
            out,
            "gatehouse_gate_decisions_total{{kind=\"{kind}\",decision=\"{decision}\"}} {n}"
        );
    }
    out.push_str("# HELP gatehouse_check_outcomes_total Gate check outcomes.\n");
    out.push_str("# TYPE gatehouse_check_outcomes_total counter\n");
    for (outcome, n) in &r.checks {
        let _ = writeln!(out, "gatehouse_check_outcomes_total{{outcome=\"{outcome}\"}} {n}");
    }
    out.push_str(
        "# HELP gatehouse_evidence_verdicts_total Evidence bindings by verdict (verified or the refusal code).\n",
    );
    out.push_str("# TYPE gatehouse_evidence_verdicts_total counter\n");
    for (verdict, n) in &r.evidence {
        let _ = writeln!(out, "gatehouse_evidence_verdicts_total{{verdict=\"{verdict}\"}} {n}");
    }
    let open = OPEN_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed);
    for (name, kind, help, value) in [
        ("gatehouse_open_connections", "gauge", "Open client connections.", open),
        (
            "gatehouse_connections_refused_total",
            "counter",
            "Connections closed at once because max_connections were open.",
            r.connections_refused as i64,
        ),
        (
            "gatehouse_accept_errors_total",
            "counter",
            "Failed accepts (most often: out of file descriptors).",
            r.accept_errors as i64,
        ),
        (
            "gatehouse_bodies_refused_total",
            "counter",
            "Requests answered busy because body_budget_bytes were buffered.",
            r.bodies_refused as i64,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_value_cannot_end_its_label_or_its_line() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        record_evidence("x\"} 1\nforged_metric 99");
        let text = render(StoreGauges::default());
        let line = text
            .lines()
            .find(|l| l.starts_with("gatehouse_evidence_verdicts_total{verdict=\"x"))
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            line,
            r#"gatehouse_evidence_verdicts_total{verdict="x\"} 1\nforged_metric 99"} 1"#
        );
        assert!(!text.lines().any(|l| l.starts_with("forged_metric")), "{text}");
    }

    #[test]
    fn histograms_are_cumulative_and_labelled() {
        record_request("/test/{x}", "GET", 200, Duration::from_micros(700));
        record_request("/test/{x}", "GET", 200, Duration::from_millis(30));
        let text = render(StoreGauges::default());
        assert!(
            text.contains(r#"gatehouse_http_requests_total{route="/test/{x}",method="GET",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"route="/test/{x}",method="GET",status="200",le="0.0005"} 0"#));
        assert!(text.contains(r#"route="/test/{x}",method="GET",status="200",le="0.001"} 1"#));
        assert!(text.contains(r#"route="/test/{x}",method="GET",status="200",le="0.05"} 2"#));
        assert!(text.contains(r#"route="/test/{x}",method="GET",status="200",le="+Inf"} 2"#));
    }

    #[test]
    fn invented_methods_share_one_series() {
        for i in 0..1000 {
            record_request("/invented", &format!("M{i}"), 405, Duration::from_micros(10));
        }
        let text = render(StoreGauges::default());
        assert!(
            text.contains(r#"gatehouse_http_requests_total{route="/invented",method="other",status="405"} 1000"#),
            "{text}"
        );
        assert!(!text.contains("M999"));
    }
}
