//! Timestamps: UTC, RFC 3339, fixed microsecond precision so that their text
//! sorts in time order (the store compares them as strings).

use crate::error::{Error, Result};

pub fn now() -> String {
    format_ts(jiff::Timestamp::now())
}

/// Now plus `hours`, in the same form as [`now`].
pub fn hours_from_now(hours: i64) -> String {
    jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(hours))
        .map_or_else(|_| now(), format_ts)
}

pub fn format_ts(ts: jiff::Timestamp) -> String {
    let micros = ts.as_microsecond();
    let ts = jiff::Timestamp::from_microsecond(micros).unwrap_or(ts);
    format!("{ts:.6}")
}

/// Parse an RFC 3339 time with any offset and normalise it to UTC.
pub fn parse(field: &str, value: &str) -> Result<String> {
    value
        .parse::<jiff::Timestamp>()
        .map(format_ts)
        .map_err(|_| Error::invalid(field, value, "an RFC 3339 time such as 2026-11-26T10:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_offsets_to_utc_and_sorts_as_text() {
        assert_eq!(
            parse("t", "2026-01-02T03:04:05+02:00").unwrap(),
            "2026-01-02T01:04:05.000000Z"
        );
        let a = parse("t", "2026-01-02T01:04:05.5Z").unwrap();
        let b = parse("t", "2026-01-02T01:04:05.25Z").unwrap();
        assert!(b < a);
        assert!(
            parse("commit_time", "yesterday")
                .unwrap_err()
                .to_string()
                .contains("commit_time")
        );
    }
}
