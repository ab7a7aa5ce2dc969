//! Pure checks on single field values: trimming as Canvas does, status matching, ISO 8601
//! dates, whole numbers. All work on bytes so that the hot loop never allocates.

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

/// Parses an ISO 8601 date or date-time into seconds since the epoch (UTC; a time without a
/// zone is taken as UTC, as Canvas does by default).
///
/// Accepted: `2026-08-20`, `2026-08-20T08:30`, `2026-08-20T08:30:00`, with `.fraction`, with `Z`
/// or `±HH:MM`/`±HHMM`/`±HH`, and a space instead of `T`. Canvas's `Time.zone.parse` accepts
/// more (`Aug 20 2026`, `08/20/2026`), but reads some of it ambiguously, so only ISO 8601 is
/// allowed here.
pub(crate) fn parse_date(v: &[u8]) -> Option<i64> {
    let num = |s: &[u8]| -> Option<u32> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if v.len() < 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(num(&v[0..4])? as i32, num(&v[5..7])?, num(&v[8..10])?)?;
    let rest = &v[10..];
    if rest.is_empty() {
        return Some(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let (h, m) = (num(&rest[1..3])?, num(&rest[4..6])?);
    let mut rest = &rest[6..];
    let mut s = 0;
    if rest.first() == Some(&b':') {
        s = num(rest.get(1..3)?)?;
        rest = &rest[3..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            rest = &rest[1 + digits..];
        }
    }
    let time = chrono::NaiveTime::from_hms_opt(h, m, s)?;
    let offset_secs = parse_zone(rest)?;
    Some(date.and_time(time).and_utc().timestamp() - offset_secs)
}

/// `""` or `Z` (UTC), `±HH`, `±HHMM`, `±HH:MM`, as seconds east of UTC.
fn parse_zone(z: &[u8]) -> Option<i64> {
    let two = |d: &[u8]| -> Option<i64> {
        match d {
            [a @ b'0'..=b'9', b @ b'0'..=b'9'] => {
                Some(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            }
            _ => None,
        }
    };
    let (sign, rest) = match z {
        [] | [b'Z'] | [b'z'] => return Some(0),
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (h, m) = match rest.len() {
        2 => (two(rest)?, 0),
        4 => (two(&rest[..2])?, two(&rest[2..])?),
        5 if rest[2] == b':' => (two(&rest[..2])?, two(&rest[3..])?),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
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
    fn iso_dates_parse_and_others_do_not() {
        assert_eq!(parse_date(b"1970-01-02"), Some(86_400));
        assert_eq!(parse_date(b"1970-01-01T01:00:00Z"), Some(3600));
        assert_eq!(parse_date(b"1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date(b"1970-01-01T01:00-0100"), Some(7200));
        assert_eq!(parse_date(b"1970-01-01 00:00:01.250"), Some(1));
        for bad in [
            &b"08/20/2026"[..],
            b"2026-02-30",
            b"2026-08-20T25:00:00Z",
            b"2026-08-20T10:00:00 PST",
            b"2026-8-20",
            b"next tuesday",
            b"2026-08-20T",
        ] {
            assert_eq!(parse_date(bad), None, "{}", show(bad));
        }
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
