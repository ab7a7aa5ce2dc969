//! Pure checks on single field values: trimming as Canvas does, status matching, whole numbers
//! (dates are `dates`). All work on bytes so that the hot loop never allocates.

/// Trims what Ruby's `String#strip` trims (ASCII whitespace and NUL), as Canvas's converters do.
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0);
    let start = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ws(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// How a status value compares with what a kind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusMatch {
    /// One of the values, in any case.
    Exact,
    /// Canvas accepts it because it *starts* with this value (`/\Aactive/i`), e.g. `Active2`.
    Prefix(&'static str),
    /// Canvas rejects it.
    Bad,
}

/// Matches `v` against `allowed` as Canvas does: case-insensitively, anchored at the start only
/// unless `anchored_both_ends` (user observers).
pub(crate) fn match_status(
    v: &[u8],
    allowed: &'static [&'static str],
    anchored_both_ends: bool,
) -> StatusMatch {
    if allowed.iter().any(|s| v.eq_ignore_ascii_case(s.as_bytes())) {
        return StatusMatch::Exact;
    }
    if anchored_both_ends {
        return StatusMatch::Bad;
    }
    // Longest first, so that `deleted_last_completedx` is read as `deleted_last_completed`.
    allowed
        .iter()
        .filter(|s| v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s.as_bytes()))
        .max_by_key(|s| s.len())
        .map_or(StatusMatch::Bad, |s| StatusMatch::Prefix(s))
}

/// Whether `v` is a whole number (optionally signed), as Canvas's integer ids need.
pub(crate) fn is_integer(v: &[u8]) -> bool {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit)
}

/// A value as text for a message: lossy UTF-8, cut to 60 characters.
pub(crate) fn show(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_removes_what_ruby_strip_removes() {
        assert_eq!(trim(b"  a b \t\r\0"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b""), b"");
    }

    #[test]
    fn statuses_match_case_insensitively_and_by_prefix_like_canvas() {
        const USER: &[&str] = &["active", "suspended", "deleted"];
        assert_eq!(match_status(b"ACTIVE", USER, false), StatusMatch::Exact);
        assert_eq!(
            match_status(b"Active2", USER, false),
            StatusMatch::Prefix("active")
        );
        assert_eq!(match_status(b"actve", USER, false), StatusMatch::Bad);
        assert_eq!(match_status(b"Active2", USER, true), StatusMatch::Bad);
        const ENR: &[&str] = &["active", "deleted", "deleted_last_completed"];
        assert_eq!(
            match_status(b"deleted_last_completedX", ENR, false),
            StatusMatch::Prefix("deleted_last_completed")
        );
    }

    #[test]
    fn integers_are_whole_numbers() {
        assert!(is_integer(b"42"));
        assert!(is_integer(b"-1"));
        assert!(!is_integer(b"4.2"));
        assert!(!is_integer(b""));
        assert!(!is_integer(b"student"));
    }
}
