//! The two date forms nearly every feed writes, `2026-08-20T08:00:00Z` and `2026-08-20`, read
//! directly: the full parser (`dates`, Ruby's `Date._parse`) tries a dozen patterns on a
//! lower-cased copy before it gets to them, and dates are read on every row of a courses,
//! sections or terms file. Only values the full parser reads as exact are answered here, with
//! the same seconds; anything else (another form, a field out of range, a day the month does
//! not have) is left to it. A test holds the two to the same answers.

use super::dates::DateRead;

/// `Some(DateRead::Exact(seconds))` for a valid `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC)
/// date; `None` for everything else.
pub(crate) fn exact(v: &[u8]) -> Option<DateRead> {
    let number = |at: usize, len: usize| -> Option<u32> {
        v.get(at..at + len)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let date_only = v.len() == 10;
    if !(date_only || v.len() == 20) || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let (hour, min, sec) = if date_only {
        (0, 0, 0)
    } else {
        let shape = v[10].eq_ignore_ascii_case(&b'T')
            && v[13] == b':'
            && v[16] == b':'
            && v[19].eq_ignore_ascii_case(&b'Z');
        if !shape {
            return None;
        }
        (number(11, 2)?, number(14, 2)?, number(17, 2)?)
    };
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    // Hour 24 and second 60 are the full parser's to judge.
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = date.and_hms_opt(hour, min, sec)?;
    Some(DateRead::Exact(time.and_utc().timestamp()))
}

#[cfg(test)]
mod tests {
    use super::super::dates::read_like_ruby;
    use super::*;

    /// A pseudo-random number below `n` (xorshift64*), the same run after run.
    fn below(x: &mut u64, n: u64) -> u64 {
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }

    /// Every value this reads, the full parser reads the same; and it reads the common ones
    /// (so the comparison is not vacuous).
    #[test]
    fn the_shortcut_gives_the_full_parsers_answer_wherever_it_answers() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut answered = 0;
        for i in 0..200_000 {
            let (y, m, d) = (below(&mut x, 10_000), below(&mut x, 14), below(&mut x, 33));
            let (h, mi, s) = (below(&mut x, 26), below(&mut x, 62), below(&mut x, 62));
            let t = ["T", "t", " ", "X"][below(&mut x, 4) as usize];
            let z = ["Z", "z", "", "+01"][below(&mut x, 4) as usize];
            let v = if i % 3 == 0 {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{z}")
            };
            if let Some(fast) = exact(v.as_bytes()) {
                answered += 1;
                assert_eq!(fast, read_like_ruby(v.as_bytes()), "{v}");
            }
        }
        assert!(answered > 20_000, "only {answered} answered");
        for v in [
            "2026-08-20T08:00:00Z",
            "2026-08-20",
            "2024-02-29T23:59:59z",
            "0001-01-01",
        ] {
            assert!(exact(v.as_bytes()).is_some(), "{v}");
            assert_eq!(
                exact(v.as_bytes()),
                Some(read_like_ruby(v.as_bytes())),
                "{v}"
            );
        }
        for v in [
            "2026-02-30",
            "2026-13-01",
            "2026-08-20T24:00:00Z",
            "2026-08-20T23:59:60Z",
            "2026-08-20T08:00:00+01:00",
            "2026/08/20",
            "20-08-2026",
            "2026-8-20",
        ] {
            assert_eq!(exact(v.as_bytes()), None, "{v}: left to the full parser");
        }
    }
}
