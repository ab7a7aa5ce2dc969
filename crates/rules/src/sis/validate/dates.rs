//! Dates as Canvas reads them: its importers take `Time.zone.parse(value)` and warn "Bad date
//! format for …" only when that raises; this module says what Canvas will make of a value.
//!
//! `Time.zone.parse` hands the text to Ruby's `Date._parse`, a heuristic parser that picks
//! fields out of almost anything (`2011-1-05 00:00:00`, `Aug 20 2026`, `20260820`, `05/01/2011`
//! read day first), then builds a time from the fields with `Time.new`. So:
//! - no field found (`soon`): `nil`, and Canvas ignores the value without a word;
//! - a field out of range (`08/20/2026` is month 20; `2026-08-20 25:00`; text longer than 128
//!   characters, which `Date._parse` refuses): `ArgumentError`, Canvas's "Bad date format";
//! - missing fields (`Aug 20`, `next tuesday`) are taken from the day of the import.
//!
//! This is a model of the patterns Ruby tries (day name, time and zone, then the first of
//! `d mon y`, `mon d y`, `y-m-d`, `d-mon-y`, `a/b/c`, `a.b.c`, `'yy`, month name, `5th`, digit
//! runs), with Ruby's rules for which number is the year; it covers what SIS exports write.

/// What Canvas makes of a date value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DateRead {
    /// A complete date Canvas reads as meant: seconds since the epoch (UTC when the value has no
    /// zone; the ordering of two dates of a row is all it is used for).
    Exact(i64),
    /// Canvas reads a date, but maybe not the one meant: how it reads it.
    Unclear(String),
    /// Canvas finds no date in it and leaves the date unset, without a message.
    Ignored,
    /// Canvas's parse raises: "Bad date format". Why.
    Bad(&'static str),
}

/// `Date._parse` refuses longer strings (Ruby's `limit: 128`).
const MAX_CHARS: usize = 128;

/// The fields found, as `Date._parse` returns them.
#[derive(Debug, Default)]
struct Parts {
    year: Option<i64>,
    mon: Option<i64>,
    mday: Option<i64>,
    hour: Option<i64>,
    min: Option<i64>,
    sec: Option<i64>,
    offset: Option<i64>,
    /// A field `Time.new` does not use (a week day, a day of the year) was found.
    other: bool,
    /// The numeric day and month came in an order that can be read both ways (`a/b/c`).
    order_ambiguous: bool,
}

impl Parts {
    fn is_empty(&self) -> bool {
        !self.other
            && self.year.is_none()
            && self.mon.is_none()
            && self.mday.is_none()
            && self.hour.is_none()
            && self.min.is_none()
            && self.sec.is_none()
    }
}

/// Reads `v` (already trimmed, not blank) as Canvas does.
pub(crate) fn read_date(v: &[u8]) -> DateRead {
    super::iso_dates::exact(v).unwrap_or_else(|| read_like_ruby(v))
}

/// Reads `v` as Ruby's `Date._parse` and `Time.new` do, whatever its form.
pub(crate) fn read_like_ruby(v: &[u8]) -> DateRead {
    let Ok(text) = std::str::from_utf8(v) else {
        // Invalid UTF-8 fails the whole import before any date is read.
        return DateRead::Ignored;
    };
    if text.chars().count() > MAX_CHARS {
        return DateRead::Bad("it is longer than the 128 characters Ruby's date parser reads");
    }
    // At most 128 characters of at most 4 bytes: lower-cased on the stack, not the heap (dates
    // are read on every row of an enrollments file).
    let mut buf = [0u8; 4 * MAX_CHARS];
    let s = &mut buf[..v.len()];
    s.copy_from_slice(v);
    s.make_ascii_lowercase();
    let mut p = Parts::default();
    parse_day(s, &mut p);
    parse_time(s, &mut p);
    let _ = parse_eu(s, &mut p)
        || parse_us(s, &mut p)
        || parse_iso(s, &mut p)
        || parse_vms(s, &mut p)
        || parse_sep(s, &mut p, b'/')
        || parse_sep(s, &mut p, b'.')
        || parse_quoted_year(s, &mut p)
        || parse_mon(s, &mut p)
        || parse_mday(s, &mut p)
        || parse_ddd(s, &mut p);
    if p.is_empty() {
        return DateRead::Ignored;
    }
    judge(&p)
}

/// What `Time.new` does with the fields: raise on one out of range, else a time.
fn judge(p: &Parts) -> DateRead {
    let out = |v: Option<i64>, lo: i64, hi: i64| v.is_some_and(|x| x < lo || x > hi);
    if out(p.mon, 1, 12) {
        return DateRead::Bad("its month is not 1 to 12");
    }
    if out(p.mday, 1, 31) {
        return DateRead::Bad("its day is not 1 to 31");
    }
    let past_24 = p.min.unwrap_or(0) != 0 || p.sec.unwrap_or(0) != 0;
    if out(p.hour, 0, 24) || (p.hour == Some(24) && past_24) {
        return DateRead::Bad("its hour is not 0 to 24");
    }
    if out(p.min, 0, 59) {
        return DateRead::Bad("its minutes are not 0 to 59");
    }
    if out(p.sec, 0, 60) {
        return DateRead::Bad("its seconds are not 0 to 60");
    }
    if out(p.offset, -86_399, 86_399) {
        return DateRead::Bad("its time zone offset is a day or more");
    }
    let (Some(y), Some(m), Some(d)) = (p.year, p.mon, p.mday) else {
        let missing: Vec<&str> = [("year", p.year), ("month", p.mon), ("day", p.mday)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| n)
            .collect();
        return DateRead::Unclear(format!(
            "a date without its {}, which Canvas takes from the day of the import",
            missing.join(" and ")
        ));
    };
    if p.order_ambiguous && d <= 12 && m <= 12 && d != m {
        return DateRead::Unclear(format!(
            "{y:04}-{m:02}-{d:02} (Ruby reads a/b/c dates day first)"
        ));
    }
    match timestamp(y, m, d, p) {
        Some(t) if d > 28 && !same_month(t, p, m) => DateRead::Unclear(format!(
            "{} (month {m} has no day {d}; Ruby rolls it over into the next month)",
            chrono::DateTime::from_timestamp(t + p.offset.unwrap_or(0), 0)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
        )),
        Some(t) => DateRead::Exact(t),
        None => DateRead::Unclear(format!("the year {y}")),
    }
}

/// Whether the local date of `t` is still in month `m` (a day past the month's end is not).
fn same_month(t: i64, p: &Parts, m: i64) -> bool {
    use chrono::Datelike;
    let local = t + p.offset.unwrap_or(0) - p.hour.unwrap_or(0) * 3600;
    chrono::DateTime::from_timestamp(local, 0).is_some_and(|d| i64::from(d.month()) == m)
}

/// Seconds since the epoch, rolling a day past the month's end over as `Time.new` does.
fn timestamp(y: i64, m: i64, d: i64, p: &Parts) -> Option<i64> {
    let first = chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m as u32, 1)?;
    let midnight = first.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
    let secs = (d - 1) * 86_400
        + p.hour.unwrap_or(0) * 3600
        + p.min.unwrap_or(0) * 60
        + p.sec.unwrap_or(0);
    Some(midnight + secs - p.offset.unwrap_or(0))
}

const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];
const DAYS: [&[u8]; 7] = [b"sun", b"mon", b"tue", b"wed", b"thu", b"fri", b"sat"];

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether a word boundary (`\b`) is at `i`.
fn boundary(s: &[u8], i: usize) -> bool {
    let before = i > 0 && is_word(s[i - 1]);
    let after = i < s.len() && is_word(s[i]);
    before != after
}

/// Blanks `s[a..b]`, as Ruby's parser does with what a pattern took.
fn blank(s: &mut [u8], a: usize, b: usize) {
    s[a..b].fill(b' ');
}

/// The end of the run of bytes from `i` that satisfy `f`.
fn run(s: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    i + s[i.min(s.len())..].iter().take_while(|&&b| f(b)).count()
}

fn spaces(s: &[u8], i: usize) -> usize {
    run(s, i, |b| b.is_ascii_whitespace())
}

fn number(s: &[u8], a: usize, b: usize) -> Option<i64> {
    let t = std::str::from_utf8(&s[a..b]).ok()?;
    let t = t.trim_start_matches('\'');
    t.parse::<i64>().ok().or_else(|| {
        // Too many digits for an i64: certainly out of any range.
        (!t.is_empty()).then_some(i64::MAX)
    })
}

/// The month whose abbreviation starts `s[i..]`, 1-based.
fn month_at(s: &[u8], i: usize) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| s[i..].starts_with(m))
        .map(|n| n as i64 + 1)
}

/// A number `'?[-+]?\d+` at `i` (sign allowed when `signed`): its end.
fn num_token(s: &[u8], i: usize, signed: bool) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&b'\'') {
        j += 1;
    }
    if signed && matches!(s.get(j), Some(b'-' | b'+')) {
        j += 1;
    }
    let end = run(s, j, |b| b.is_ascii_digit());
    (end > j).then_some(end)
}

fn parse_day(s: &mut [u8], p: &mut Parts) {
    for i in 0..s.len() {
        if !boundary(s, i) || !DAYS.iter().any(|d| s[i..].starts_with(d)) {
            continue;
        }
        let end = run(s, i + 3, |b| {
            !(b == b'-' || b == b'/' || b.is_ascii_digit() || b.is_ascii_whitespace())
        });
        blank(s, i, end);
        p.other = true;
        return;
    }
}

fn parse_time(s: &mut [u8], p: &mut Parts) {
    for i in 0..s.len() {
        if !s[i].is_ascii_digit() || (i > 0 && s[i - 1].is_ascii_digit()) {
            continue;
        }
        if let Some(end) = time_at(s, i, p) {
            let end = zone_at(s, end, p);
            blank(s, i, end);
            return;
        }
    }
}

/// `h:m[:s[.f]] [am|pm]` or `h am|pm` at `i`: fills hour, minutes, seconds; returns the end.
fn time_at(s: &[u8], i: usize, p: &mut Parts) -> Option<usize> {
    let h_end = run(s, i, |b| b.is_ascii_digit());
    let hour = number(s, i, h_end)?;
    let mut j = spaces(s, h_end);
    let (mut min, mut sec) = (None, None);
    if s.get(j) == Some(&b':') {
        let m0 = spaces(s, j + 1);
        let m1 = run(s, m0, |b| b.is_ascii_digit());
        if m1 == m0 {
            return None;
        }
        min = number(s, m0, m1);
        j = m1;
        let k = spaces(s, j);
        if s.get(k) == Some(&b':') {
            let s0 = spaces(s, k + 1);
            let s1 = run(s, s0, |b| b.is_ascii_digit());
            if s1 > s0 {
                sec = number(s, s0, s1);
                j = s1;
                if matches!(s.get(j), Some(b'.' | b',')) {
                    j = run(s, j + 1, |b| b.is_ascii_digit());
                }
            }
        }
    }
    let (meridian, after) = meridian_at(s, spaces(s, j));
    if min.is_none() && meridian.is_none() {
        return None;
    }
    p.hour = Some(match meridian {
        Some(pm) => hour % 12 + if pm { 12 } else { 0 },
        None => hour,
    });
    p.min = min;
    p.sec = sec;
    Some(if meridian.is_some() { after } else { j })
}

/// `am`/`pm`/`a.m.`/`p.m.` at `i`: whether pm, and the end.
fn meridian_at(s: &[u8], i: usize) -> (Option<bool>, usize) {
    let pm = match s.get(i) {
        Some(b'a') => false,
        Some(b'p') => true,
        _ => return (None, i),
    };
    if s.get(i + 1) == Some(&b'm') && boundary(s, i + 2) {
        (Some(pm), i + 2)
    } else if s[i + 1..].starts_with(b".m.") {
        (Some(pm), i + 4)
    } else {
        (None, i)
    }
}

/// A zone after a time: `z`, `utc`, `+05:00`, `-0500`, a zone name; sets the offset when known.
fn zone_at(s: &[u8], i: usize, p: &mut Parts) -> usize {
    let j = spaces(s, i);
    let mut k = j;
    for prefix in [&b"gmt"[..], b"utc", b"ut"] {
        if s[k..].starts_with(prefix) && matches!(s.get(k + prefix.len()), Some(b'+' | b'-')) {
            k += prefix.len();
            break;
        }
    }
    if let Some(&sign @ (b'+' | b'-')) = s.get(k) {
        let d0 = k + 1;
        let d1 = run(s, d0, |b| b.is_ascii_digit());
        if d1 > d0 {
            let mut end = d1;
            let mut secs = match d1 - d0 {
                1 | 2 => number(s, d0, d1).unwrap_or(0) * 3600,
                n => {
                    let hh = number(s, d0, d0 + 2 - n % 2).unwrap_or(0);
                    let mm = number(s, d0 + 2 - n % 2, (d0 + 4 - n % 2).min(d1)).unwrap_or(0);
                    hh * 3600 + mm * 60
                }
            };
            if matches!(s.get(d1), Some(b':' | b',' | b'.')) {
                let m1 = run(s, d1 + 1, |b| b.is_ascii_digit());
                if m1 > d1 + 1 {
                    if s[d1] == b':' {
                        secs += number(s, d1 + 1, m1).unwrap_or(0) * 60;
                    }
                    end = m1;
                }
            }
            p.offset = Some(if sign == b'-' { -secs } else { secs });
            return end;
        }
        return i;
    }
    let end = run(s, j, |b| b.is_ascii_alphabetic());
    if end == j || !boundary(s, end) {
        return i;
    }
    p.offset = match &s[j..end] {
        b"z" | b"utc" | b"gmt" | b"ut" => Some(0),
        b"est" | b"cdt" => Some(-5 * 3600),
        b"edt" => Some(-4 * 3600),
        b"cst" | b"mdt" => Some(-6 * 3600),
        b"mst" | b"pdt" => Some(-7 * 3600),
        b"pst" => Some(-8 * 3600),
        _ => None,
    };
    end
}

/// Ruby's `s3e`: which of three numbers is the year, the month and the day.
fn s3e(
    s: &[u8],
    y: Option<(usize, usize)>,
    m: Option<(usize, usize)>,
    d: Option<(usize, usize)>,
    p: &mut Parts,
) {
    let text = |r: (usize, usize)| &s[r.0..r.1];
    let long_or_quoted = |r: (usize, usize)| {
        let t = text(r);
        t.first() == Some(&b'\'') || t.len() > 2
    };
    let (mut y, mut m, mut d) = (y, m, d);
    if y.is_some() && m.is_some() && d.is_none() {
        (y, m, d) = (d, y, m);
    }
    if y.is_none()
        && let Some(dd) = d
        && long_or_quoted(dd)
    {
        (y, d) = (Some(dd), None);
    }
    if let Some(mm) = m
        && long_or_quoted(mm)
    {
        (y, m, d) = (m, d, y);
    }
    if let Some(dd) = d
        && long_or_quoted(dd)
    {
        (y, d) = (d, y);
    }
    let value = |r: Option<(usize, usize)>| r.and_then(|r| number(s, r.0, r.1));
    if y.is_some() {
        p.year = value(y);
    }
    if m.is_some() {
        p.mon = value(m);
    }
    if d.is_some() {
        p.mday = value(d);
    }
}

/// `d mon [y]`: `20 Aug 2026`, `20th august`.
fn parse_eu(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        let Some(d_end) = num_token(s, i, false) else {
            continue;
        };
        if i > 0 && (s[i - 1].is_ascii_digit() || (s[i] != b'\'' && s[i - 1] == b'\'')) {
            continue;
        }
        let skip = run(s, d_end, |b| {
            !(b == b'-' || b == b'\'' || b.is_ascii_digit() || b.is_ascii_whitespace())
        });
        let mi = spaces(s, skip);
        let Some(mon) = month_at(s, mi) else { continue };
        let m_end = run(s, mi + 3, |b| {
            !(b == b'-' || b == b'\'' || b.is_ascii_digit() || b.is_ascii_whitespace())
        });
        let yi = spaces(s, m_end);
        let y = num_token(s, yi, true).map(|e| (yi, e));
        let end = y.map_or(m_end, |r| r.1);
        s3e_with_month(s, y, mon, (i, d_end), p);
        blank(s, i, end);
        return true;
    }
    false
}

/// `s3e` with a month given by name (its number is at most two digits, so it never moves).
fn s3e_with_month(s: &[u8], y: Option<(usize, usize)>, mon: i64, d: (usize, usize), p: &mut Parts) {
    let mut q = Parts::default();
    s3e(s, y, None, Some(d), &mut q);
    p.year = q.year;
    p.mday = q.mday;
    p.mon = Some(mon);
}

/// `mon d[,] [y]`: `Aug 20, 2026`.
fn parse_us(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        if !boundary(s, i) {
            continue;
        }
        let Some(mon) = month_at(s, i) else { continue };
        let m_end = run(s, i + 3, |b| {
            !(b == b'-' || b == b'\'' || b.is_ascii_digit() || b.is_ascii_whitespace())
        });
        let di = spaces(s, m_end);
        let Some(d_end) = num_token(s, di, false) else {
            continue;
        };
        let skip = run(s, d_end, |b| {
            !(b == b'-' || b == b'\'' || b.is_ascii_digit() || b.is_ascii_whitespace())
        });
        let mut yi = spaces(s, skip);
        if s.get(yi) == Some(&b',') {
            yi = spaces(s, yi + 1);
        }
        let y = num_token(s, yi, true).map(|e| (yi, e));
        let end = y.map_or(d_end, |r| r.1);
        s3e_with_month(s, y, mon, (di, d_end), p);
        blank(s, i, end);
        return true;
    }
    false
}

/// `y-m-d`: `2026-08-20`, `2011-1-05`.
fn parse_iso(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        let Some(y_end) = num_token(s, i, true) else {
            continue;
        };
        if s.get(y_end) != Some(&b'-') {
            continue;
        }
        let m_end = run(s, y_end + 1, |b| b.is_ascii_digit());
        if m_end == y_end + 1 || s.get(m_end) != Some(&b'-') {
            continue;
        }
        let d0 = m_end + 1;
        let d_start = if s.get(d0) == Some(&b'\'') {
            d0 + 1
        } else {
            d0
        };
        let d_start = if s.get(d_start) == Some(&b'-') {
            d_start + 1
        } else {
            d_start
        };
        let d_end = run(s, d_start, |b| b.is_ascii_digit());
        if d_end == d_start {
            continue;
        }
        s3e(
            s,
            Some((i, y_end)),
            Some((y_end + 1, m_end)),
            Some((d0, d_end)),
            p,
        );
        blank(s, i, d_end);
        return true;
    }
    false
}

/// `d-mon-y`: `20-Aug-2026`.
fn parse_vms(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        let Some(d_end) = num_token(s, i, true) else {
            continue;
        };
        if s.get(d_end) != Some(&b'-') {
            continue;
        }
        let Some(mon) = month_at(s, d_end + 1) else {
            continue;
        };
        let m_end = run(s, d_end + 4, |b| !matches!(b, b'-' | b'/' | b'.'));
        if s.get(m_end) != Some(&b'-') {
            continue;
        }
        let Some(y_end) = num_token(s, m_end + 1, true) else {
            continue;
        };
        s3e_with_month(s, Some((m_end + 1, y_end)), mon, (i, d_end), p);
        blank(s, i, y_end);
        return true;
    }
    false
}

/// `a/b/c` or `a.b.c` (and `a/b`): Ruby reads them day first unless a number is clearly the year.
fn parse_sep(s: &mut [u8], p: &mut Parts, sep: u8) -> bool {
    for i in 0..s.len() {
        let Some(a_end) = num_token(s, i, true) else {
            continue;
        };
        if s.get(a_end) != Some(&sep) {
            continue;
        }
        let bi = spaces(s, a_end + 1);
        let Some(b_end) = num_token(s, bi, false) else {
            continue;
        };
        let mut end = b_end;
        let mut c = None;
        let sep_ok = |x: Option<&u8>| match sep {
            b'/' => x.is_some_and(|b| !b.is_ascii_digit()),
            _ => x == Some(&b'.'),
        };
        if sep_ok(s.get(b_end)) {
            let ci = spaces(s, b_end + 1);
            if let Some(c_end) = num_token(s, ci, true) {
                c = Some((ci, c_end));
                end = c_end;
            }
        }
        if sep == b'.' && c.is_none() {
            continue;
        }
        s3e(s, Some((i, a_end)), Some((bi, b_end)), c, p);
        p.order_ambiguous = true;
        blank(s, i, end);
        return true;
    }
    false
}

/// `'26`: a year.
fn parse_quoted_year(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        if s[i] != b'\'' {
            continue;
        }
        let end = run(s, i + 1, |b| b.is_ascii_digit());
        if end > i + 1 && boundary(s, end) {
            p.year = number(s, i + 1, end);
            blank(s, i, end);
            return true;
        }
    }
    false
}

/// A month name alone.
fn parse_mon(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        if boundary(s, i)
            && let Some(mon) = month_at(s, i)
        {
            p.mon = Some(mon);
            let end = run(s, i, |b| !b.is_ascii_whitespace());
            blank(s, i, end);
            return true;
        }
    }
    false
}

/// `5th`, `21st`: a day.
fn parse_mday(s: &mut [u8], p: &mut Parts) -> bool {
    for i in 0..s.len() {
        if !s[i].is_ascii_digit() || (i > 0 && s[i - 1].is_ascii_digit()) {
            continue;
        }
        let end = run(s, i, |b| b.is_ascii_digit());
        let suffix = [&b"st"[..], b"nd", b"rd", b"th"]
            .into_iter()
            .find(|x| s[end..].starts_with(x));
        if let Some(x) = suffix
            && boundary(s, end + x.len())
        {
            p.mday = number(s, i, end);
            blank(s, i, end + x.len());
            return true;
        }
    }
    false
}

/// A run of 2 to 14 digits: `20260820`, `20260820T083000`, `0820`.
fn parse_ddd(s: &mut [u8], p: &mut Parts) -> bool {
    let Some(i) = (0..s.len()).find(|&i| {
        s[i].is_ascii_digit() && (i == 0 || !s[i - 1].is_ascii_digit()) && {
            let n = run(s, i, |b| b.is_ascii_digit()) - i;
            (2..=14).contains(&n)
        }
    }) else {
        return false;
    };
    let end = run(s, i, |b| b.is_ascii_digit());
    let two = |a: usize| number(s, i + a, i + a + 2);
    match end - i {
        2 => p.mday = two(0),
        4 => (p.mon, p.mday) = (two(0), two(2)),
        6 => (p.year, p.mon, p.mday) = (two(0), two(2), two(4)),
        n @ (8 | 10 | 12 | 14) => {
            p.year = number(s, i, i + 4);
            (p.mon, p.mday) = (two(4), two(6));
            if n >= 10 {
                p.hour = two(8);
            }
            if n >= 12 {
                p.min = two(10);
            }
            if n >= 14 {
                p.sec = two(12);
            }
        }
        3 => p.other = true,
        5 => p.year = two(0),
        7 => p.year = number(s, i, i + 4),
        _ => {}
    }
    let mut j = spaces(s, end);
    if s.get(j) == Some(&b't') {
        j = spaces(s, j + 1);
    }
    let t_end = run(s, j, |b| b.is_ascii_digit());
    if matches!(t_end - j, 2 | 4 | 6) && p.hour.is_none() {
        let two = |a: usize| number(s, j + a, j + a + 2);
        p.hour = two(0);
        if t_end - j >= 4 {
            p.min = two(2);
        }
        if t_end - j == 6 {
            p.sec = two(4);
        }
    }
    blank(s, i, end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: &str) -> DateRead {
        read_date(v.as_bytes())
    }

    #[test]
    fn what_canvas_reads_as_meant() {
        for (v, t) in [
            ("1970-01-02", 86_400),
            ("1970-01-01T01:00:00Z", 3600),
            ("1970-01-01T01:00:00+01:00", 0),
            ("1970-01-01T01:00-0100", 7200),
            ("1970-01-01 00:00:01.250", 1),
            ("1970-1-2 00:00:00", 86_400),
            ("2011-1-05 00:00:00", 1_294_185_600),
            ("Jan 2 1970", 86_400),
            ("2 January 1970", 86_400),
            ("02-Jan-1970", 86_400),
            ("19700102", 86_400),
            ("1970-01-01 1:00 pm", 13 * 3600),
            ("2026-08-20T", 1_787_184_000),
            ("20/08/2026", 1_787_184_000),
        ] {
            assert_eq!(read(v), DateRead::Exact(t), "{v}");
        }
    }

    #[test]
    fn what_makes_canvas_say_bad_date_format() {
        for v in [
            "08/20/2026",
            "2026-13-01",
            "2026-08-20T25:00:00Z",
            "2026-08-20 10:61",
            "2026-08-32",
            "2026-00-10",
        ] {
            assert!(matches!(read(v), DateRead::Bad(_)), "{v}: {:?}", read(v));
        }
        let long = format!("2026-08-20{}", " ".repeat(130));
        assert!(matches!(read(&long), DateRead::Bad(_)));
    }

    #[test]
    fn what_canvas_ignores_or_reads_otherwise() {
        assert_eq!(read("soon"), DateRead::Ignored);
        match read("2027-02-30") {
            DateRead::Unclear(how) => assert!(how.starts_with("2027-03-02"), "{how}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(read("n/a"), DateRead::Ignored);
        assert!(matches!(read("next tuesday"), DateRead::Unclear(_)));
        assert!(matches!(read("Aug 20"), DateRead::Unclear(_)));
        match read("05/01/2011") {
            DateRead::Unclear(how) => assert!(how.starts_with("2011-01-05"), "{how}"),
            other => panic!("{other:?}"),
        }
    }
    use crate::test_fixtures::ruby_time_zone_parse_verdicts as ruby_verdicts;

    #[test]
    fn bad_date_exactly_where_ruby_raises() {
        let wrong: Vec<(&str, DateRead)> = ruby_verdicts()
            .into_iter()
            .map(|(v, raises)| (v, read(v), raises))
            .filter(|(_, r, raises)| matches!(r, DateRead::Bad(_)) != *raises)
            .map(|(v, r, _)| (v, r))
            .collect();
        assert!(wrong.is_empty(), "differs from Ruby on {wrong:#?}");
    }
}
