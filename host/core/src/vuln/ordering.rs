//! Version ordering per ecosystem: PEP 440 for PyPI, SemVer for npm,
//! crates.io and Go, and segment-wise ordering for Maven, RubyGems and NuGet.
//! An ecosystem without an ordering matches only through explicit versions.

use std::cmp::Ordering;

/// A parsed version of one ecosystem.
#[derive(Debug, Clone)]
pub enum Parsed {
    Pep440(pep440_rs::Version),
    Semver(semver::Version),
    Segments(Vec<Segment>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Num(u64),
    /// A qualifier; `rank` orders the well-known ones (alpha < beta < rc < "" < sp …).
    Text {
        rank: i32,
        text: String,
    },
}

/// Whether versions of this ecosystem (or OSV range type) can be ordered.
pub fn orderable(ecosystem: &str) -> bool {
    matches!(
        ecosystem,
        "PyPI" | "npm" | "crates.io" | "Go" | "SEMVER" | "Maven" | "RubyGems" | "NuGet" | "Packagist" | "Hex" | "Pub"
    )
}

/// Parse `v` for `ecosystem`; None when it is not a version of that scheme.
pub fn parse(ecosystem: &str, v: &str) -> Option<Parsed> {
    match ecosystem {
        "PyPI" => v.parse::<pep440_rs::Version>().ok().map(Parsed::Pep440),
        "npm" | "crates.io" | "Go" | "SEMVER" | "Hex" | "Pub" => semver_lenient(v).map(Parsed::Semver),
        "Maven" | "RubyGems" | "NuGet" | "Packagist" => Some(Parsed::Segments(segments(ecosystem, v))),
        _ => None,
    }
}

/// SemVer, accepting a leading `v` and missing minor/patch (`1.2` → `1.2.0`).
fn semver_lenient(v: &str) -> Option<semver::Version> {
    let v = v.trim().trim_start_matches(['v', 'V', '=']);
    if let Ok(p) = semver::Version::parse(v) {
        return Some(p);
    }
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    semver::Version::parse(&format!("{padded}{rest}")).ok()
}

fn qualifier_rank(ecosystem: &str, q: &str) -> i32 {
    match (ecosystem, q) {
        (_, "alpha" | "a") => -4,
        (_, "beta" | "b") => -3,
        (_, "milestone" | "m") => -2,
        (_, "rc" | "cr" | "pre" | "preview") => -1,
        (_, "snapshot") => -1,
        (_, "" | "ga" | "final" | "release") => 0,
        (_, "sp") => 1,
        _ => -5,
    }
}

/// Split into numeric and text segments (`1.2.0-beta.1` → 1, 2, 0, beta, 1);
/// trailing zeros are dropped so `1.0` equals `1`.
fn segments(ecosystem: &str, v: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let lower = v.to_ascii_lowercase();
    let mut current = String::new();
    let mut numeric = None::<bool>;
    let flush = |current: &mut String, numeric: Option<bool>, out: &mut Vec<Segment>| {
        if current.is_empty() {
            return;
        }
        match numeric {
            Some(true) => out.push(Segment::Num(current.parse().unwrap_or(u64::MAX))),
            _ => {
                // `1.0-alpha` is `1-alpha`: zeros before a qualifier do not count.
                while matches!(out.last(), Some(Segment::Num(0))) && out.len() > 1 {
                    out.pop();
                }
                out.push(Segment::Text {
                    rank: qualifier_rank(ecosystem, current),
                    text: current.clone(),
                })
            }
        }
        current.clear();
    };
    for c in lower.chars() {
        if matches!(c, '.' | '-' | '_' | '+') {
            flush(&mut current, numeric, &mut out);
            numeric = None;
            continue;
        }
        let is_digit = c.is_ascii_digit();
        if numeric.is_some_and(|n| n != is_digit) {
            flush(&mut current, numeric, &mut out);
        }
        numeric = Some(is_digit);
        current.push(c);
    }
    flush(&mut current, numeric, &mut out);
    while matches!(out.last(), Some(Segment::Num(0))) {
        out.pop();
    }
    out
}

fn cmp_segments(a: &[Segment], b: &[Segment]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let o = match (a.get(i), b.get(i)) {
            (Some(Segment::Num(x)), Some(Segment::Num(y))) => x.cmp(y),
            (Some(Segment::Num(_)), Some(Segment::Text { .. })) => Ordering::Greater,
            (Some(Segment::Text { .. }), Some(Segment::Num(_))) => Ordering::Less,
            (Some(Segment::Text { rank: r1, text: t1 }), Some(Segment::Text { rank: r2, text: t2 })) => {
                r1.cmp(r2).then_with(|| t1.cmp(t2))
            }
            // A missing segment is a release: more numbers are newer, a qualifier older.
            (None, Some(Segment::Num(_))) => Ordering::Less,
            (Some(Segment::Num(_)), None) => Ordering::Greater,
            (None, Some(Segment::Text { rank, .. })) => 0.cmp(rank),
            (Some(Segment::Text { rank, .. }), None) => rank.cmp(&0),
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Compare two versions of the same scheme.
pub fn compare(a: &Parsed, b: &Parsed) -> Option<Ordering> {
    match (a, b) {
        (Parsed::Pep440(x), Parsed::Pep440(y)) => Some(x.cmp(y)),
        (Parsed::Semver(x), Parsed::Semver(y)) => Some(x.cmp_precedence(y)),
        (Parsed::Segments(x), Parsed::Segments(y)) => Some(cmp_segments(x, y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(eco: &str, a: &str, b: &str) -> Ordering {
        compare(&parse(eco, a).unwrap(), &parse(eco, b).unwrap()).unwrap()
    }

    #[test]
    fn orderings_per_ecosystem() {
        use Ordering::*;
        let table = [
            ("PyPI", "3.2", "3.2.0", Equal),
            ("PyPI", "2.0rc1", "2.0", Less),
            ("PyPI", "1.0.post1", "1.0", Greater),
            ("PyPI", "1!0.1", "2.0", Greater),
            ("npm", "5.0.0-alpha.1", "5.0.0", Less),
            ("npm", "0.0.0-0", "0.0.0", Less),
            ("npm", "v1.2", "1.2.0", Equal),
            ("crates.io", "0.10.0", "0.9.9", Greater),
            ("Go", "v1.4.0", "v1.10.0", Less),
            ("Maven", "1.0-alpha-1", "1.0", Less),
            ("Maven", "1.0", "1", Equal),
            ("Maven", "1.0-sp1", "1.0", Greater),
            ("Maven", "2.14.1", "2.15.0", Less),
            ("RubyGems", "1.2.3.pre", "1.2.3", Less),
            ("NuGet", "4.0.0-rc.2", "4.0.0", Less),
            ("NuGet", "1.0.0.1", "1.0.0", Greater),
        ];
        for (eco, a, b, want) in table {
            assert_eq!(cmp(eco, a, b), want, "{eco}: {a} vs {b}");
        }
        assert!(parse("Debian", "1.0").is_none());
        assert!(parse("npm", "not.a.version").is_none());
    }
}
