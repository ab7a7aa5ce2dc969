//! Which date values make Canvas say "Bad date format".
//!
//! Canvas's CSV importers read `start_date`/`end_date` with `Time.zone.parse(value)` inside a
//! `rescue` (`lib/sis/csv/term_importer.rb`, `course_importer.rb`, ...). That is
//! ActiveSupport's `TimeZone#parse`: Ruby's `Date._parse` picks whatever date and time parts it
//! recognises anywhere in the text, and `Time.new(year, mon, mday, hour, min, sec, offset)` is
//! built from them. Only an exception is a bad date, and only `Time.new` raises: a recognised
//! part out of range (month 13, day 32, hour 25, minute 60, offset of a day or more). Text in
//! which nothing is recognised (`TBD`, `<delete>`) is no date at all, silently; single-digit
//! months and days (`2011-1-05`) are fine.
//!
//! This models the forms feeds send, as Ruby 3.1's `Date._parse` reads them: a clock time
//! `H:M[:S[.f]]` with an optional am/pm and numeric zone; a month name with the day before or
//! after it; a numeric date `a-b-c`, `a/b[/c]` or `a.b.c`, whose parts Ruby orders as its `s3e`
//! does (`2025-08-20` is year-month-day; a long last part is the year, so `20-08-2025` and
//! `08/20/2025` are day-month-year, the latter with month 20); else the first run of digits,
//! read by its length (`2025` alone is month 20, day 25). A value longer than 128 characters is
//! refused by `Date._parse` itself. Rarer forms (week dates, `--08-20`) are not modelled.

/// `Date._parse`'s default `limit:` (Ruby 3.0.3 and later).
const PARSE_LIMIT: usize = 128;

/// The date columns of a row (sections, enrollments) that `Time.zone.parse` refuses: a bad
/// `start_date` leaves both dates unset (Canvas parses them in one `begin` block), a bad
/// `end_date` only the end.
pub(crate) fn bad_date_columns(row: &super::parse::Row) -> Vec<&'static str> {
    let raises = |col| row.get(col).is_some_and(time_zone_parse_raises);
    if raises("start_date") {
        vec!["start_date", "end_date"]
    } else if raises("end_date") {
        vec!["end_date"]
    } else {
        Vec::new()
    }
}

/// True when Canvas's `Time.zone.parse` raises on the value, i.e. Canvas reports
/// "Bad date format" for the row.
pub(crate) fn time_zone_parse_raises(value: &str) -> bool {
    // Ruby's `Date._parse` refuses strings longer than 128 characters outright.
    if value.chars().count() > PARSE_LIMIT {
        return true;
    }
    let mut text: Vec<char> = value.to_lowercase().chars().collect();
    if clock_is_bad(&mut text) == Some(true) {
        return true;
    }
    if let Some(bad) = month_name_day_is_bad(&text) {
        return bad;
    }
    date_is_bad(&text)
}

/// A run of ASCII digits starting at `i`: its end and value (`None` when too large).
fn digits_at(s: &[char], i: usize) -> (usize, Option<u64>) {
    let end = s[i..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(s.len(), |p| i + p);
    let text: String = s[i..end].iter().collect();
    (end, text.parse().ok())
}

fn skip_spaces(s: &[char], mut i: usize) -> usize {
    while s.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// Finds the first `H:M[:S]` clock time; `Some(true)` when Ruby's `Time.new` would refuse it
/// (or its zone offset). The time and zone are blanked out of `s`, as `Date._parse` does before
/// it looks for the date.
fn clock_is_bad(s: &mut [char]) -> Option<bool> {
    let mut i = 0;
    while i < s.len() {
        let starts_run = s[i].is_ascii_digit() && (i == 0 || !s[i - 1].is_ascii_digit());
        if starts_run {
            let (end, hour) = digits_at(s, i);
            let colon = skip_spaces(s, end);
            let minute_at = skip_spaces(s, colon + 1);
            if s.get(colon) == Some(&':') && s.get(minute_at).is_some_and(char::is_ascii_digit) {
                return Some(read_clock(s, i, hour, minute_at));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    None
}

/// Reads the clock found at `start` (hour already read, minutes at `minute_at`) and blanks it.
fn read_clock(s: &mut [char], start: usize, hour: Option<u64>, minute_at: usize) -> bool {
    let (mut end, minute) = digits_at(s, minute_at);
    let mut second = Some(0);
    let colon = skip_spaces(s, end);
    let second_at = skip_spaces(s, colon + 1);
    if s.get(colon) == Some(&':') && s.get(second_at).is_some_and(char::is_ascii_digit) {
        (end, second) = digits_at(s, second_at);
        if matches!(s.get(end), Some('.' | ',')) {
            end = digits_at(s, end + 1).0;
        }
    }
    let (end, meridian) = read_meridian(s, end);
    let (end, offset_ok) = read_offset(s, end);
    s[start..end].iter_mut().for_each(|c| *c = ' ');
    let hour = match (hour, meridian) {
        (Some(h), Some(pm)) => Some(h % 12 + if pm { 12 } else { 0 }),
        (h, None) => h,
        (None, Some(_)) => None,
    };
    let (Some(h), Some(m), Some(sec)) = (hour, minute, second) else {
        return true;
    };
    clock_parts_bad(&[h, m, sec]) || !offset_ok
}

/// An `am`/`pm` (or `a.m.`/`p.m.`) after a clock time: `Some(true)` for pm.
fn read_meridian(s: &[char], from: usize) -> (usize, Option<bool>) {
    let i = skip_spaces(s, from);
    let pm = match s.get(i) {
        Some('a') => false,
        Some('p') => true,
        _ => return (from, None),
    };
    let rest: String = s[i + 1..].iter().take(3).collect();
    let len = if rest.starts_with(".m.") {
        4
    } else if rest.starts_with('m') && !s.get(i + 2).is_some_and(|c| c.is_alphanumeric()) {
        2
    } else {
        return (from, None);
    };
    (i + len, Some(pm))
}

/// A numeric zone after a clock time (`z`, `+05:30`, `-0600`, `utc+2`): its end, and whether
/// `Time.new` accepts the offset (less than a day).
fn read_offset(s: &[char], from: usize) -> (usize, bool) {
    let mut i = skip_spaces(s, from);
    for prefix in ["gmt", "utc", "ut"] {
        let p: Vec<char> = prefix.chars().collect();
        if s.get(i..i + p.len()) == Some(&p[..]) {
            i += p.len();
            break;
        }
    }
    if !matches!(s.get(i), Some('+' | '-')) || !s.get(i + 1).is_some_and(char::is_ascii_digit) {
        return (from, true);
    }
    let (end, _) = digits_at(s, i + 1);
    let first: String = s[i + 1..end].iter().collect();
    let (hours, minutes, end) = if matches!(s.get(end), Some(':' | ',' | '.'))
        && s.get(end + 1).is_some_and(char::is_ascii_digit)
    {
        let (end2, mins) = digits_at(s, end + 1);
        (first.parse::<u64>().ok(), mins, end2)
    } else if first.len() > 2 {
        let (h, m) = first.split_at(first.len() - 2);
        (h.parse().ok(), m.parse().ok(), end)
    } else {
        (first.parse().ok(), Some(0), end)
    };
    let seconds = hours
        .zip(minutes)
        .and_then(|(h, m)| h.checked_mul(3600)?.checked_add(m.checked_mul(60)?));
    let ok = seconds.is_some_and(|t| t < 86_400);
    (end, ok)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A date written with a month name: `Some(true)` when its day (a number of at most two digits
/// right before the name, as `20 Aug`, or right after it, as `Aug 20`) is over 31. A longer
/// number there is the year.
fn month_name_day_is_bad(s: &[char]) -> Option<bool> {
    let text: String = s.iter().collect();
    let at = MONTHS.iter().filter_map(|m| text.find(m)).min()?;
    // `text` is the lower-cased value; its byte offsets match `s` only for ASCII, so count.
    let at = text[..at].chars().count();
    let word_end = (at..s.len())
        .find(|&i| !s[i].is_alphabetic())
        .unwrap_or(s.len());
    let before = number_before(s, at);
    let after = number_after(s, word_end);
    let day = before.or(after).filter(|d| d.len() <= 2);
    Some(day.is_some_and(|d| d.parse::<u64>().map_or(true, |v| v > 31)))
}

/// The digits ending right before `at` (spaces and a `-` or `.` allowed between).
fn number_before(s: &[char], at: usize) -> Option<String> {
    let mut end = at;
    while end > 0 && matches!(s[end - 1], ' ' | '-' | '.') {
        end -= 1;
    }
    let start = (0..end)
        .rev()
        .take_while(|&i| s[i].is_ascii_digit())
        .last()?;
    Some(text_of(s, start, end))
}

/// The digits starting right after `from` (spaces, `-` or `.` allowed between).
fn number_after(s: &[char], from: usize) -> Option<String> {
    let mut i = from;
    while s.get(i).is_some_and(|c| matches!(c, ' ' | '-' | '.')) {
        i += 1;
    }
    if !s.get(i).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let (end, _) = digits_at(s, i);
    Some(text_of(s, i, end))
}

/// The first numeric date (`a-b-c`, then `a/b[/c]`, then `a.b.c`, then a run of digits): true
/// when its month or day is out of range.
fn date_is_bad(s: &[char]) -> bool {
    for sep in ['-', '/', '.'] {
        if let Some(parts) = three_parts(s, sep) {
            return match ruby_s3e(parts) {
                Some((mon, mday)) => !(1..=12).contains(&mon) || !(1..=31).contains(&mday),
                None => true,
            };
        }
    }
    digit_run_is_bad(s)
}

/// Numbers joined by `sep`: `a sep b sep c`, or for `/` also `a/b` and `a/b<non-digit>c`.
fn three_parts(s: &[char], sep: char) -> Option<[Option<String>; 3]> {
    let mut i = 0;
    while i < s.len() {
        if !s[i].is_ascii_digit() || (i > 0 && s[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let (a_end, _) = digits_at(s, i);
        let b_at = skip_spaces(s, a_end + 1);
        if s.get(a_end) == Some(&sep) && s.get(b_at).is_some_and(char::is_ascii_digit) {
            let (b_end, _) = digits_at(s, b_at);
            let a = text_of(s, i, a_end);
            let b = text_of(s, b_at, b_end);
            let c = third_part(s, b_end, sep);
            if c.is_some() || sep == '/' {
                return Some([Some(a), Some(b), c]);
            }
        }
        i = a_end;
    }
    None
}

fn text_of(s: &[char], from: usize, to: usize) -> String {
    s[from..to].iter().collect()
}

/// The third number after `b`: right after `sep` (a `-` may be its sign for ISO), or for `/`
/// after any one non-digit.
fn third_part(s: &[char], b_end: usize, sep: char) -> Option<String> {
    let next = s.get(b_end)?;
    let joins = *next == sep || (sep == '/' && !next.is_ascii_digit());
    if !joins {
        return None;
    }
    let mut at = skip_spaces(s, b_end + 1);
    if sep == '-' && s.get(at) == Some(&'-') {
        at += 1;
    }
    if !s.get(at).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let (end, _) = digits_at(s, at);
    Some(text_of(s, at, end))
}

/// Ruby's `s3e` ordering of three date parts: returns (month, day) as numbers.
fn ruby_s3e(parts: [Option<String>; 3]) -> Option<(u64, u64)> {
    let [mut y, mut m, mut d] = parts;
    if y.is_some() && m.is_some() && d.is_none() {
        (y, m, d) = (None, y, m);
    }
    if m.as_ref().is_some_and(|v| v.len() > 2) {
        (y, m, d) = (m, d, y);
    }
    if d.as_ref().is_some_and(|v| v.len() > 2) {
        (y, d) = (d, y);
    }
    let _ = y;
    let mon = m.and_then(|v| v.parse().ok());
    let mday = match d {
        Some(v) => v.parse().ok(),
        None => Some(1),
    };
    Some((mon?, mday?))
}

/// Ruby's `parse_ddd`: the first run of 2 to 14 digits (a longer one is cut at 14) is read by
/// its length: `dd`, `mmdd`, `yymmdd`, `yyyymmdd`, then `hh`, `mm`, `ss` for 10, 12 and 14
/// digits; 3, 5 and 7 digits end in a day of the year (never out of range here), 9, 11 and 13
/// digits are nothing. A `T`-or-space separated run of 2, 4 or 6 digits after it is a time.
fn digit_run_is_bad(s: &[char]) -> bool {
    let Some(start) = (0..s.len()).find(|&i| {
        s[i].is_ascii_digit()
            && (i == 0 || !s[i - 1].is_ascii_digit())
            && s.get(i + 1).is_some_and(char::is_ascii_digit)
    }) else {
        return false;
    };
    let (end, _) = digits_at(s, start);
    let end = end.min(start + 14);
    let run = text_of(s, start, end);
    let num = |from: usize, to: usize| run[from..to].parse::<u64>().unwrap_or(u64::MAX);
    let (mon, mday, mut clock) = match run.len() {
        2 => (None, Some(num(0, 2)), Vec::new()),
        4 => (Some(num(0, 2)), Some(num(2, 4)), Vec::new()),
        6 => (Some(num(2, 4)), Some(num(4, 6)), Vec::new()),
        8 | 10 | 12 | 14 => {
            let clock = (8..run.len()).step_by(2).map(|i| num(i, i + 2)).collect();
            (Some(num(4, 6)), Some(num(6, 8)), clock)
        }
        _ => return false,
    };
    if clock.is_empty() {
        clock = trailing_time(s, end);
    }
    let mon_bad = mon.is_some_and(|m| !(1..=12).contains(&m));
    let mday_bad = mday.is_some_and(|d| !(1..=31).contains(&d));
    mon_bad || mday_bad || clock_parts_bad(&clock)
}

/// `hh[mm[ss]]` digits after a date run, separated by spaces and an optional `t`.
fn trailing_time(s: &[char], from: usize) -> Vec<u64> {
    let mut i = skip_spaces(s, from);
    if s.get(i) == Some(&'t') {
        i = skip_spaces(s, i + 1);
    }
    if !s.get(i).is_some_and(char::is_ascii_digit) {
        return Vec::new();
    }
    let (end, _) = digits_at(s, i);
    let run = text_of(s, i, end);
    if ![2, 4, 6].contains(&run.len()) {
        return Vec::new();
    }
    (0..run.len())
        .step_by(2)
        .map(|k| run[k..k + 2].parse().unwrap_or(u64::MAX))
        .collect()
}

/// Hour, minute and second as `Time.new` takes them (24:00:00 is the next midnight).
fn clock_parts_bad(parts: &[u64]) -> bool {
    let h = parts.first().copied().unwrap_or(0);
    let m = parts.get(1).copied().unwrap_or(0);
    let sec = parts.get(2).copied().unwrap_or(0);
    h > 24 || (h == 24 && (m > 0 || sec > 0)) || m > 59 || sec > 60
}

#[cfg(test)]
mod tests {
    use super::time_zone_parse_raises as raises;

    #[test]
    fn iso_dates_and_times_with_short_parts_parse() {
        for ok in [
            "2011-1-05 00:00:00",
            "2011-04-14 00:00:00",
            "2025-08-20",
            "2025-08-20T08:00:00Z",
            "2025-08-20T08:00:00.000-06:00",
            "2025-08-20 8:00 pm",
            "2025/08/20",
            "20-08-2025",
            "20.08.2025",
            "08/12/2025",
            "20250820",
            "Aug 20, 2025",
        ] {
            assert!(!raises(ok), "{ok} should parse");
        }
    }

    #[test]
    fn out_of_range_parts_are_bad_dates() {
        for bad in [
            "2012-13-05 00:00:00",
            "2012-14-14 00:00:00",
            "2025-08-32",
            "2025-00-10",
            "08/20/2025",
            "2025-08-20 25:00:00",
            "2025-08-20 10:60",
            "2025-08-20T08:00:00+25:00",
            "20251320",
        ] {
            assert!(raises(bad), "{bad} should be a bad date");
        }
    }

    #[test]
    fn text_without_a_date_is_no_date_and_no_error() {
        for none in ["TBD", "<delete>", "soon", ""] {
            assert!(!raises(none), "{none} is silently no date");
        }
        assert!(raises(&"x".repeat(129)), "over Date._parse's limit");
    }

    use canvas_sis_rules::test_fixtures::ruby_time_zone_parse_verdicts as ruby_verdicts;

    #[test]
    fn agrees_with_ruby_on_the_forms_feeds_send() {
        let wrong: Vec<&str> = ruby_verdicts()
            .into_iter()
            .filter(|(v, bad)| raises(v) != *bad)
            .map(|(v, _)| v)
            .collect();
        assert!(wrong.is_empty(), "differs from Ruby on {wrong:?}");
    }

    #[test]
    fn section_and_enrollment_spec_dates_canvas_reads_do_not_raise() {
        for v in [
            "2011-1-05 00:00:00",
            "2011-04-14 00:00:00",
            "1985-08-24",
            "2023-09-10T23:08:51Z",
            "2011-02-30",
            "bogus",
            "",
        ] {
            assert!(!raises(v), "{v}");
        }
    }

    #[test]
    fn section_and_enrollment_spec_out_of_range_parts_raise() {
        for v in [
            "2012-13-05 00:00:00",
            "2012-14-14 00:00:00",
            "2012-00-10",
            "2012-01-32",
            "2012-01-10 25:00:00",
            "2012-01-10T10:60",
        ] {
            assert!(raises(v), "{v}");
        }
    }
}
