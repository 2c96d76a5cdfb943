//! Instants and calendar dates without a clock.
//!
//! A plugin has no clock: `now` and the tenant's UTC offset arrive in the
//! context. These types do the little calendar arithmetic rules need (days
//! between instants, the local date, the day of the month) with no
//! dependency, so they cost nothing inside the guest.

use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_MINUTE: i64 = 60_000;

/// An instant: milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whole days from `earlier` to `self`, rounded down; negative if `earlier`
    /// is later.
    ///
    /// ```
    /// use rulehost_sdk::Timestamp;
    /// let a = Timestamp::from_millis(0);
    /// let b = a.plus_days(3).plus_millis(1);
    /// assert_eq!(b.days_since(a), 3);
    /// assert_eq!(a.days_since(b), -4);
    /// ```
    pub fn days_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0).div_euclid(MS_PER_DAY)
    }

    /// This instant moved by `days` whole days.
    pub fn plus_days(self, days: i64) -> Self {
        Self(self.0.saturating_add(days.saturating_mul(MS_PER_DAY)))
    }

    /// This instant moved by `ms` milliseconds.
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Parses an RFC 3339 date-time such as `2026-03-07T10:00:00Z` or
    /// `2026-03-07T18:00:00.250+08:00` (fractions beyond milliseconds are
    /// dropped).
    ///
    /// ```
    /// use rulehost_sdk::Timestamp;
    /// assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:01Z"), Some(Timestamp(1_000)));
    /// assert_eq!(
    ///     Timestamp::parse_rfc3339("1970-01-01T08:00:00+08:00"),
    ///     Timestamp::parse_rfc3339("1970-01-01T00:00:00Z"),
    /// );
    /// assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    /// ```
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            part.iter()
                .all(u8::is_ascii_digit)
                .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
        if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut i = 19;
        let mut millis = 0;
        if sep(i, b".") {
            i += 1;
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let frac = &b[i..i + digits];
            millis = (0..3).fold(0, |n, k| n * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0')));
            i += digits;
        }
        let offset_minutes = match b.get(i)? {
            b'Z' | b'z' if i + 1 == b.len() => 0,
            sign @ (b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b":") => {
                let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let minutes = h * 60 + m;
                if *sign == b'-' { -minutes } else { minutes }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
        Some(Timestamp(seconds * 1_000 + millis))
    }

    /// The calendar date at this instant for a UTC offset in minutes.
    ///
    /// ```
    /// use rulehost_sdk::{Date, Timestamp};
    /// // 2026-03-06T20:00:00Z is already the 7th in UTC+8.
    /// let t = Timestamp::from_millis(1_772_827_200_000);
    /// assert_eq!(t.local_date(0), Date::new(2026, 3, 6));
    /// assert_eq!(t.local_date(480), Date::new(2026, 3, 7));
    /// ```
    pub fn local_date(self, tz_offset_minutes: i32) -> Date {
        let local = self.0.saturating_add(i64::from(tz_offset_minutes) * MS_PER_MINUTE);
        Date::from_days_since_epoch(local.div_euclid(MS_PER_DAY))
    }

    /// The first instant of the local day after this one, for a UTC offset:
    /// handy for tags that hold "for today".
    pub fn end_of_local_day(self, tz_offset_minutes: i32) -> Timestamp {
        let offset = i64::from(tz_offset_minutes) * MS_PER_MINUTE;
        let local = self.0.saturating_add(offset);
        let next_midnight = (local.div_euclid(MS_PER_DAY) + 1) * MS_PER_DAY;
        Timestamp(next_midnight - offset)
    }
}

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// The year, e.g. 2026.
    pub year: i32,
    /// The month, 1–12.
    pub month: u8,
    /// The day of the month, 1–31.
    pub day: u8,
}

impl Date {
    /// A date from its parts; the parts are not checked.
    pub const fn new(year: i32, month: u8, day: u8) -> Self {
        Self { year, month, day }
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Self {
        // Howard Hinnant's civil_from_days, in eras of 400 years.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: year.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            month,
            day,
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_1970_01_01() {
        assert_eq!(Date::from_days_since_epoch(0), Date::new(1970, 1, 1));
    }

    #[test]
    fn leap_days_and_century_rules() {
        // 2000 is a leap year, 2100 is not.
        assert_eq!(Date::from_days_since_epoch(11_016), Date::new(2000, 2, 29));
        assert_eq!(Date::from_days_since_epoch(47_540), Date::new(2100, 2, 28));
        assert_eq!(Date::from_days_since_epoch(47_541), Date::new(2100, 3, 1));
        assert_eq!(Date::from_days_since_epoch(20_513), Date::new(2026, 3, 1));
    }

    #[test]
    fn dates_before_the_epoch() {
        assert_eq!(Date::from_days_since_epoch(-1), Date::new(1969, 12, 31));
    }

    #[test]
    fn days_since_rounds_down() {
        let a = Timestamp(0);
        assert_eq!(Timestamp(MS_PER_DAY - 1).days_since(a), 0);
        assert_eq!(Timestamp(MS_PER_DAY).days_since(a), 1);
        assert_eq!(Timestamp(-1).days_since(a), -1);
    }

    #[test]
    fn end_of_local_day_respects_the_offset() {
        // 2026-03-06T20:00:00Z = 2026-03-07T04:00 in UTC+8; the local day ends
        // at 2026-03-07T16:00:00Z.
        let t = Timestamp(1_772_827_200_000);
        assert_eq!(t.end_of_local_day(480), Timestamp(1_772_899_200_000));
        assert_eq!(t.end_of_local_day(0), Timestamp(1_772_841_600_000));
    }

    #[test]
    fn parsing_and_calendar_agree() {
        for days in [-700_000, -1, 0, 11_016, 20_513, 47_541, 2_000_000] {
            let d = Date::from_days_since_epoch(days);
            let text = format!("{d}T00:00:00Z");
            assert_eq!(
                Timestamp::parse_rfc3339(&text),
                Some(Timestamp(days * MS_PER_DAY)),
                "{text}"
            );
        }
    }

    #[test]
    fn parsing_rejects_impossible_dates_and_junk() {
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-03-07T24:00:00Z",
            "2026-03-07T10:00:00",
            "2026-03-07T10:00:00+8:00",
            "2026-03-07T10:00:00.Z",
            "2026-03-07",
            "",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn parsing_keeps_milliseconds_and_offsets() {
        assert_eq!(
            Timestamp::parse_rfc3339("2026-03-07T08:00:00.1239-01:30"),
            Some(Timestamp(1_772_875_800_123))
        );
    }

    #[test]
    fn display_is_iso_8601() {
        assert_eq!(Date::new(2026, 3, 7).to_string(), "2026-03-07");
    }
}
