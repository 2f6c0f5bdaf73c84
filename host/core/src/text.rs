//! Text that reaches terminals, logs and comparisons. Names and labels may
//! not carry control characters or bidirectional overrides (an ESC or an RLO
//! in an application name rewrites what `gatehouse app list` shows), and
//! actor names are compared in one form: trimmed, Unicode NFKC.

/// A character that can change how surrounding text is displayed: C0/C1
/// controls and the bidirectional marks, embeddings, overrides and isolates.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// No control or bidirectional-override characters.
pub fn printable(s: &str) -> bool {
    !s.chars().any(is_unsafe)
}

/// Like [`printable`], but line breaks and tabs are allowed (descriptions, justifications).
pub fn printable_multiline(s: &str) -> bool {
    !s.chars().any(|c| is_unsafe(c) && !matches!(c, '\n' | '\t'))
}

/// The form in which actor names are compared: trimmed and in Unicode NFKC
/// (so `"dev1 "`, `"ｄｅｖ１"` and `"dev1"` are one actor).
pub fn normalize_name(s: &str) -> String {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfkc()
        .normalize(s.trim())
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_names_are_one_name() {
        assert_eq!(normalize_name("dev1 "), "dev1");
        assert_eq!(normalize_name("\u{FF44}\u{FF45}\u{FF56}\u{FF11}"), "dev1");
        assert_eq!(normalize_name("ﬁona"), "fiona");
        assert_ne!(normalize_name("dev1"), normalize_name("dev2"));
    }

    #[test]
    fn controls_and_bidi_overrides_are_unsafe() {
        for s in [
            "a\u{1b}[31mred",
            "evil\u{202E}gnp.exe",
            "x\u{2066}y",
            "nul\0",
            "line\nbreak",
        ] {
            assert!(!printable(s), "{s:?}");
        }
        assert!(printable("Payments API — ünïcode"));
        assert!(printable_multiline("two\nlines\tand a tab"));
        assert!(!printable_multiline("two\nlines \u{202E}"));
    }
}
