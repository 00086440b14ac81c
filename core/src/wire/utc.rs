//! Rendering Unix milliseconds as a UTC timestamp for human-readable output,
//! without a date library (proleptic Gregorian calendar, days-from-civil
//! algorithm by Howard Hinnant).

use std::fmt;

/// `2023-11-14 22:13:20Z` for 1 700 000 000 000 ms.
pub(crate) struct UtcMillis(pub(crate) u64);

impl fmt::Display for UtcMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(UtcMillis(0).to_string(), "1970-01-01 00:00:00Z");
        assert_eq!(
            UtcMillis(1_700_000_000_000).to_string(),
            "2023-11-14 22:13:20Z"
        );
        // A leap day and the turn of a century that is a leap year.
        assert_eq!(
            UtcMillis(951_782_400_000).to_string(),
            "2000-02-29 00:00:00Z"
        );
        assert_eq!(
            UtcMillis(4_107_542_399_999).to_string(),
            "2100-02-28 23:59:59Z"
        );
    }

    fn days_in_month(year: u64, month: u64) -> u64 {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Walk 200 years day by day: each date is the day after the previous.
        let mut prev = civil_from_days(0);
        for d in 1..73_000 {
            let (y, m, day) = prev;
            let expected = if day < days_in_month(y, m) {
                (y, m, day + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            let next = civil_from_days(d);
            assert_eq!(next, expected, "after {prev:?}");
            prev = next;
        }
    }
}
