//! When Canvas's `Time.zone.parse` refuses a date: the only case in which the section and
//! enrollment importers report "Bad date format …".
//!
//! `Time.zone.parse` reads almost anything: text it finds no date in gives `nil` (the date is
//! simply not set, without a message), and `2011-1-05 00:00:00` is as good as ISO 8601. It
//! raises only when the parts it found are out of range for `Time.new`: month 13, day 32, hour
//! 25, minute 60. Those rows still import, without the dates, and with the warning.

/// True when `Time.zone.parse(v)` raises, i.e. `v` holds a `Y-M-D` (or `Y/M/D`) date, optionally
/// with an `H:M[:S]` time, whose month, day, hour, minute or second is out of range.
pub(crate) fn parse_raises(v: &str) -> bool {
    let Some((date, rest)) = leading_date(v.trim()) else {
        return false;
    };
    let [_, month, day] = date;
    let time = leading_time(rest).unwrap_or([0, 0, 0]);
    let [hour, minute, second] = time;
    !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 24
        || minute > 59
        || second > 60
}

/// Digits at the start of `s`, as a number, and what follows them.
fn number(s: &str, max_digits: usize) -> Option<(u32, &str)> {
    let len = s
        .bytes()
        .take(max_digits)
        .take_while(u8::is_ascii_digit)
        .count();
    let n = s.get(..len)?.parse().ok()?;
    Some((n, &s[len..]))
}

/// `year-month-day` (or with `/`) at the start of `s`, and the rest.
fn leading_date(s: &str) -> Option<([u32; 3], &str)> {
    let (year, s) = number(s, 4)?;
    let sep = s.chars().next().filter(|c| *c == '-' || *c == '/')?;
    let (month, s) = number(&s[1..], 2)?;
    let s = s.strip_prefix(sep)?;
    let (day, s) = number(s, 2)?;
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return None; // a longer number is not a day of the month
    }
    Some(([year, month, day], s))
}

/// ` hour:minute[:second]` (or after a `T`) at the start of `s`.
fn leading_time(s: &str) -> Option<[u32; 3]> {
    let s = s.strip_prefix(['T', 't', ' '])?.trim_start();
    let (hour, s) = number(s, 2)?;
    let (minute, s) = number(s.strip_prefix(':')?, 2)?;
    let second = s
        .strip_prefix(':')
        .and_then(|s| number(s, 2))
        .map_or(0, |(n, _)| n);
    Some([hour, minute, second])
}

#[cfg(test)]
mod tests {
    use super::parse_raises;

    #[test]
    fn dates_canvas_reads_do_not_raise() {
        for v in [
            "2011-1-05 00:00:00",
            "2011-04-14 00:00:00",
            "1985-08-24",
            "2023-09-10T23:08:51Z",
            "2011-02-30",
            "bogus",
            "",
        ] {
            assert!(!parse_raises(v), "{v}");
        }
    }

    #[test]
    fn out_of_range_parts_raise() {
        for v in [
            "2012-13-05 00:00:00",
            "2012-14-14 00:00:00",
            "2012-00-10",
            "2012-01-32",
            "2012-01-10 25:00:00",
            "2012-01-10T10:60",
        ] {
            assert!(parse_raises(v), "{v}");
        }
    }
}
