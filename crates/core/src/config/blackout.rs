//! Blackout windows: times when a tenant's batches are held back (not sent to Canvas).
//!
//! Two shapes, both from the config file: a weekly window (`days`, `from`, `to` as `HH:MM` of local
//! time, `tz` an IANA time zone such as `America/Chicago`, `UTC`, or a fixed offset such as
//! `+02:00`) and a one-off date range (`from`/`to` as RFC 3339 instants). A named zone follows
//! daylight saving (its rules come from the tz database built into the binary, `chrono-tz`); a
//! fixed offset never moves. A weekly window whose `to` is earlier than its `from` crosses midnight
//! and ends the next day; `to = "24:00"` means the end of the day. Windows are half-open: `from`
//! is inside, `to` is outside. Across a daylight-saving change a window keeps its wall-clock times
//! (Saturday 22:00 to Sunday 06:00 is seven or nine hours long that night); an end that falls in
//! the hour the clocks skip is the first instant after it, one that happens twice is the later.
//!
//! This module only answers "is `now` inside?" and "when does it end?"; holding and releasing
//! batches is the caller's business.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc,
    Weekday,
};

/// The clock a weekly window is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `UTC` or `+HH:MM`: never moves.
    Fixed(FixedOffset),
    /// An IANA zone (`Europe/Paris`): follows its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// The wall-clock time at `t`.
    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Fixed(o) => o.from_utc_datetime(&t.naive_utc()).naive_local(),
            Zone::Named(z) => z.from_utc_datetime(&t.naive_utc()).naive_local(),
        }
    }

    /// The instant the clock shows `local`: the later of two (clocks set back), or the first
    /// instant after a time the clocks skip.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let resolve = |l: NaiveDateTime| -> Option<DateTime<Utc>> {
            match self {
                Zone::Fixed(o) => match o.from_local_datetime(&l) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => {
                        Some(t.with_timezone(&Utc))
                    }
                    LocalResult::None => None,
                },
                Zone::Named(z) => match z.from_local_datetime(&l) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => {
                        Some(t.with_timezone(&Utc))
                    }
                    LocalResult::None => None,
                },
            }
        };
        // A skipped time: the first minute after it that exists (gaps are at most a few hours).
        (0..=24 * 60)
            .find_map(|m| resolve(local + Duration::minutes(m)))
            .unwrap_or_else(|| local.and_utc())
    }
}

const DAY_SECS: i64 = 86_400;
const WEEK_SECS: i64 = 7 * DAY_SECS;

/// One blackout window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blackout {
    /// Every week on `days`, from `from_secs` to `to_secs` after local midnight (in `zone`).
    Weekly {
        days: Vec<Weekday>,
        /// Start, seconds after local midnight (0..86400).
        from_secs: u32,
        /// End, seconds after local midnight (1..=86400); at or before `from_secs` means the
        /// next day.
        to_secs: u32,
        zone: Zone,
    },
    /// Once, from `from` (inside) to `to` (outside).
    Range {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

impl Blackout {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        match self {
            Blackout::Range { from, to } => *from <= now && now < *to,
            Blackout::Weekly { .. } => self.weekly_remaining_secs(now).is_some(),
        }
    }

    /// When the blackout that holds `now` ends, or `None` when `now` is outside it.
    ///
    /// Back-to-back weekly windows (Saturday 00:00–24:00 and Sunday 00:00–06:00) count as one:
    /// the answer is the first instant at which this window no longer holds.
    pub fn next_end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Blackout::Range { to, .. } => self.contains(now).then_some(*to),
            Blackout::Weekly { zone, .. } => {
                let mut t = now.with_nanosecond(0).unwrap_or(now);
                let mut found = false;
                // Seven days hold at most seven windows; one more lap proves it never ends.
                for _ in 0..8 {
                    match self.weekly_remaining_secs(t) {
                        Some(rest) => {
                            found = true;
                            // The end on the wall clock, then the instant it shows it.
                            let end = zone.instant(zone.local(t) + Duration::seconds(rest));
                            // Never backwards (an end in a repeated hour resolved to its later
                            // instant is after `t`; a fixed offset is plain arithmetic).
                            t = end.max(t + Duration::seconds(1));
                        }
                        None => break,
                    }
                }
                found.then_some(t)
            }
        }
    }

    /// Seconds from `now` (whole seconds) to the end of the window holding it, the longest if
    /// two overlap.
    fn weekly_remaining_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        let Blackout::Weekly {
            days,
            from_secs,
            to_secs,
            zone,
        } = self
        else {
            return None;
        };
        let local = zone.local(now);
        let now_sow = i64::from(local.weekday().num_days_from_monday()) * DAY_SECS
            + i64::from(local.num_seconds_from_midnight());
        let len = window_len(*from_secs, *to_secs);
        days.iter()
            .filter_map(|d| {
                let start = i64::from(d.num_days_from_monday()) * DAY_SECS + i64::from(*from_secs);
                let into = (now_sow - start).rem_euclid(WEEK_SECS);
                (into < len).then_some(len - into)
            })
            .max()
    }
}

/// Length of a weekly window in seconds; a window ending at or before its start crosses midnight.
fn window_len(from_secs: u32, to_secs: u32) -> i64 {
    let (f, t) = (i64::from(from_secs), i64::from(to_secs));
    if t > f { t - f } else { t + DAY_SECS - f }
}

/// The first instant at or after `now` at which none of `windows` holds, or `None` when `now` is
/// outside all of them. Overlapping and back-to-back windows are followed through.
pub fn blackout_until(windows: &[Blackout], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut t = now;
    let mut held = false;
    // Bounded: each pass moves past at least one window; a config whose windows cover all time
    // stops after this many passes and reports the instant reached (still inside).
    for _ in 0..64 {
        let end = windows.iter().filter_map(|w| w.next_end(t)).max();
        match end {
            Some(e) => {
                held = true;
                t = e;
            }
            None => break,
        }
    }
    held.then_some(t)
}

/// Parses a day name: `mon`..`sun` or the full English name, any case.
pub(crate) fn parse_day(s: &str) -> Option<Weekday> {
    let d = s.trim().to_ascii_lowercase();
    let short = d.get(..3)?;
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    if d.len() != 3 && !full.contains(&d.as_str()) {
        return None;
    }
    short.parse().ok()
}

/// Parses `HH:MM` (00:00..=24:00) into seconds after midnight.
pub(crate) fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

/// Parses an IANA zone name (`America/Chicago`), `UTC`, `Z` or a fixed offset `+HH:MM` / `-HH:MM`.
pub(crate) fn parse_zone(s: &str) -> Option<Zone> {
    if let Some(o) = parse_offset(s) {
        return Some(Zone::Fixed(o));
    }
    s.trim().parse::<chrono_tz::Tz>().ok().map(Zone::Named)
}

/// Parses `UTC`, `Z` or a fixed offset `+HH:MM` / `-HH:MM`.
pub(crate) fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let secs = parse_hhmm(&s[1..])?;
    if secs > 18 * 3600 {
        return None;
    }
    FixedOffset::east_opt(sign * secs as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weekly(days: &[Weekday], from: &str, to: &str, tz: &str) -> Blackout {
        Blackout::Weekly {
            days: days.to_vec(),
            from_secs: parse_hhmm(from).unwrap(),
            to_secs: parse_hhmm(to).unwrap(),
            zone: parse_zone(tz).unwrap(),
        }
    }

    #[test]
    fn a_named_zone_keeps_the_local_hours_across_daylight_saving() {
        // Monday 09:00-10:00 in Chicago: 14:00Z in summer (CDT, -5), 15:00Z in winter (CST, -6).
        let w = weekly(&[Weekday::Mon], "09:00", "10:00", "America/Chicago");
        assert!(w.contains(at("2026-06-01T14:00:00Z")));
        assert!(!w.contains(at("2026-06-01T15:00:00Z")));
        assert!(!w.contains(at("2026-01-05T14:00:00Z")));
        assert!(w.contains(at("2026-01-05T15:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-01-05T15:30:00Z")),
            Some(at("2026-01-05T16:00:00Z"))
        );
        // A fixed offset does not follow: -05:00 is 14:00Z all year.
        let fixed = weekly(&[Weekday::Mon], "09:00", "10:00", "-05:00");
        assert!(fixed.contains(at("2026-01-05T14:00:00Z")));
    }

    #[test]
    fn a_window_across_the_autumn_change_lasts_its_wall_clock_hours() {
        // Saturday 2026-10-31 22:00 CDT (03:00Z) to Sunday 06:00 CST (12:00Z): nine hours, the
        // clocks going back at 02:00 in between.
        let w = weekly(&[Weekday::Sat], "22:00", "06:00", "America/Chicago");
        assert!(!w.contains(at("2026-11-01T02:59:59Z")));
        assert!(w.contains(at("2026-11-01T03:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-11-01T03:00:00Z")),
            Some(at("2026-11-01T12:00:00Z"))
        );
        assert!(w.contains(at("2026-11-01T11:59:59Z")));
        assert!(!w.contains(at("2026-11-01T12:00:00Z")));
    }

    #[test]
    fn an_end_in_the_skipped_spring_hour_is_the_first_instant_after_it() {
        // Sunday 2026-03-08: Chicago skips 02:00-03:00. A window to 02:30 ends at 03:00 CDT
        // (08:00Z); it began at 00:00 CST (06:00Z).
        let w = weekly(&[Weekday::Sun], "00:00", "02:30", "America/Chicago");
        assert!(w.contains(at("2026-03-08T06:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-03-08T06:00:00Z")),
            Some(at("2026-03-08T08:00:00Z"))
        );
        assert!(!w.contains(at("2026-03-08T08:00:00Z")));
    }

    // 2026-11-28 is a Saturday, 2026-11-30 a Monday.

    #[test]
    fn a_same_day_window_holds_from_inclusive_to_exclusive() {
        let w = weekly(&[Weekday::Sat], "01:00", "06:00", "UTC");
        assert!(!w.contains(at("2026-11-28T00:59:59Z")));
        assert!(w.contains(at("2026-11-28T01:00:00Z")));
        assert!(w.contains(at("2026-11-28T05:59:59Z")));
        assert!(!w.contains(at("2026-11-28T06:00:00Z")));
        assert!(
            !w.contains(at("2026-11-29T03:00:00Z")),
            "Sunday is not listed"
        );
        assert_eq!(
            w.next_end(at("2026-11-28T02:30:15.5Z")),
            Some(at("2026-11-28T06:00:00Z"))
        );
        assert_eq!(w.next_end(at("2026-11-28T07:00:00Z")), None);
    }

    #[test]
    fn a_window_across_midnight_ends_the_next_day() {
        let w = weekly(&[Weekday::Fri], "22:00", "02:00", "UTC");
        assert!(w.contains(at("2026-11-27T23:30:00Z")));
        assert!(
            w.contains(at("2026-11-28T01:59:00Z")),
            "Saturday early belongs to Friday"
        );
        assert!(!w.contains(at("2026-11-28T02:00:00Z")));
        assert!(
            !w.contains(at("2026-11-28T23:00:00Z")),
            "Saturday night is not listed"
        );
        assert_eq!(
            w.next_end(at("2026-11-27T23:00:00Z")),
            Some(at("2026-11-28T02:00:00Z"))
        );
    }

    #[test]
    fn a_sunday_night_window_wraps_into_monday_of_the_next_week() {
        let w = weekly(&[Weekday::Sun], "23:00", "01:00", "UTC");
        assert!(w.contains(at("2026-11-30T00:30:00Z")), "Monday 00:30");
        assert!(!w.contains(at("2026-11-30T01:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-11-29T23:10:00Z")),
            Some(at("2026-11-30T01:00:00Z"))
        );
    }

    #[test]
    fn back_to_back_days_end_when_the_last_one_ends() {
        let w = weekly(&[Weekday::Sat, Weekday::Sun], "00:00", "24:00", "UTC");
        assert!(w.contains(at("2026-11-28T00:00:00Z")));
        assert!(w.contains(at("2026-11-29T23:59:59Z")));
        assert!(!w.contains(at("2026-11-30T00:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-11-28T12:00:00Z")),
            Some(at("2026-11-30T00:00:00Z"))
        );
    }

    #[test]
    fn a_fixed_offset_shifts_the_window() {
        // Saturday 00:00–06:00 at +02:00 is Friday 22:00 – Saturday 04:00 UTC.
        let w = weekly(&[Weekday::Sat], "00:00", "06:00", "+02:00");
        assert!(w.contains(at("2026-11-27T22:00:00Z")));
        assert!(!w.contains(at("2026-11-27T21:59:59Z")));
        assert!(!w.contains(at("2026-11-28T04:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-11-27T23:00:00Z")),
            Some(at("2026-11-28T04:00:00Z"))
        );
        // Monday 01:00–03:00 at -05:00 is Monday 06:00–08:00 UTC.
        let w = weekly(&[Weekday::Mon], "01:00", "03:00", "-05:00");
        assert!(w.contains(at("2026-11-30T06:30:00Z")));
        assert!(!w.contains(at("2026-11-30T01:30:00Z")));
    }

    #[test]
    fn a_date_range_holds_between_its_instants() {
        let w = Blackout::Range {
            from: at("2026-12-20T00:00:00Z"),
            to: at("2027-01-05T00:00:00Z"),
        };
        assert!(!w.contains(at("2026-12-19T23:59:59Z")));
        assert!(w.contains(at("2026-12-31T12:00:00Z")));
        assert!(!w.contains(at("2027-01-05T00:00:00Z")));
        assert_eq!(
            w.next_end(at("2026-12-25T00:00:00Z")),
            Some(at("2027-01-05T00:00:00Z"))
        );
    }

    #[test]
    fn several_windows_are_followed_through_to_the_first_free_instant() {
        let ws = [
            weekly(&[Weekday::Sat], "00:00", "06:00", "UTC"),
            weekly(&[Weekday::Sat], "05:00", "08:00", "UTC"),
        ];
        assert_eq!(
            blackout_until(&ws, at("2026-11-28T01:00:00Z")),
            Some(at("2026-11-28T08:00:00Z"))
        );
        assert_eq!(blackout_until(&ws, at("2026-11-28T09:00:00Z")), None);
    }

    #[test]
    fn day_time_and_offset_parsers_refuse_what_they_cannot_read() {
        assert_eq!(parse_day("Sat"), Some(Weekday::Sat));
        assert_eq!(parse_day("sunday"), Some(Weekday::Sun));
        assert_eq!(parse_day("satur"), None);
        assert_eq!(parse_hhmm("24:00"), Some(86_400));
        assert_eq!(parse_hhmm("24:01"), None);
        assert_eq!(parse_hhmm("7:00"), None);
        assert_eq!(parse_offset("+05:30").unwrap().local_minus_utc(), 19_800);
        assert_eq!(parse_offset("Europe/Paris"), None);
        assert!(matches!(parse_zone("Europe/Paris"), Some(Zone::Named(_))));
        assert!(matches!(parse_zone("+02:00"), Some(Zone::Fixed(_))));
        assert_eq!(parse_zone("Mars/Olympus_Mons"), None);
    }
}
