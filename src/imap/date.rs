//! INTERNALDATE for APPEND (RFC 3501 `date-time`), from RFC 3339 input.

use std::fmt;

use super::types::ValidationError;

/// A date-time with a numeric zone, e.g. from `2026-11-26T09:30:00+01:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternalDate {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Zone offset in minutes east of UTC.
    offset: i16,
}

impl InternalDate {
    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
    ///
    /// # Errors
    /// Anything else.
    pub fn parse_rfc3339(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        let bad = || {
            ValidationError::new(
                field,
                "expected an RFC 3339 date-time like 2026-11-26T09:30:00+01:00",
            )
        };
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || !text.is_ascii()
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !matches!(bytes[10], b'T' | b't' | b' ')
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return Err(bad());
        }
        let num = |range: std::ops::Range<usize>| -> Result<u16, ValidationError> {
            text[range].parse::<u16>().map_err(|_| bad())
        };
        let year = num(0..4)?;
        let month = u8::try_from(num(5..7)?).map_err(|_| bad())?;
        let day = u8::try_from(num(8..10)?).map_err(|_| bad())?;
        let hour = u8::try_from(num(11..13)?).map_err(|_| bad())?;
        let minute = u8::try_from(num(14..16)?).map_err(|_| bad())?;
        let second = u8::try_from(num(17..19)?).map_err(|_| bad())?;
        let mut rest = &text[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            zone if zone.len() == 6
                && zone.is_ascii()
                && (zone.starts_with('+') || zone.starts_with('-'))
                && &zone[3..4] == ":" =>
            {
                let hours: i16 = zone[1..3].parse().map_err(|_| bad())?;
                let minutes: i16 = zone[4..6].parse().map_err(|_| bad())?;
                if hours > 23 || minutes > 59 {
                    return Err(bad());
                }
                let total = hours * 60 + minutes;
                if zone.starts_with('-') {
                    -total
                } else {
                    total
                }
            }
            _ => return Err(bad()),
        };
        // Reuse the calendar check of search dates.
        super::search::SearchDate::parse(field, &text[0..10])?;
        if hour > 23 || minute > 59 || second > 60 {
            return Err(bad());
        }
        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            offset,
        })
    }
}

impl InternalDate {
    /// Seconds since the Unix epoch, for ordering dates given in different zones.
    pub fn unix_seconds(&self) -> i64 {
        // Days from the civil date (H. Hinnant's algorithm), proleptic Gregorian.
        let (year, month) = (i64::from(self.year), i64::from(self.month));
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month_index = (month + 9) % 12;
        let day_of_year = (153 * month_index + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset) * 60
    }
}

impl fmt::Display for InternalDate {
    /// RFC 3501 `date-time`: `"26-Nov-2026 09:30:00 +0100"` (with the quotes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let sign = if self.offset < 0 { '-' } else { '+' };
        let offset = self.offset.unsigned_abs();
        write!(
            f,
            "\"{:02}-{}-{} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
            self.day,
            MONTHS[usize::from(self.month) - 1],
            self.year,
            self.hour,
            self.minute,
            self.second,
            offset / 60,
            offset % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_instants_across_zones() {
        let at = |text| {
            InternalDate::parse_rfc3339("d", text)
                .unwrap()
                .unix_seconds()
        };
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2026-11-30T05:50:00Z"), 1_796_017_800);
        assert_eq!(at("2000-02-29T12:00:00+02:00"), 951_818_400);
        assert_eq!(at("2026-11-30T06:50:00+01:00"), at("2026-11-30T05:50:00Z"));
        assert!(at("2026-11-30T05:50:00-01:00") > at("2026-11-30T05:50:00Z"));
    }

    #[test]
    fn a_zone_with_a_multibyte_character_is_refused_not_sliced() {
        assert!(InternalDate::parse_rfc3339("d", "2026-11-26T09:30:00+0\u{e9}:0").is_err());
        assert!(InternalDate::parse_rfc3339("d", "2026-11-26T09:30:00+\u{e9}:00").is_err());
    }

    #[test]
    fn parses_and_renders() {
        let cases = [
            (
                "2026-11-26T09:30:00+01:00",
                "\"26-Nov-2026 09:30:00 +0100\"",
            ),
            ("2026-01-05T23:59:59Z", "\"05-Jan-2026 23:59:59 +0000\""),
            (
                "2026-07-04T12:00:00.123-05:30",
                "\"04-Jul-2026 12:00:00 -0530\"",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                InternalDate::parse_rfc3339("internal_date", input)
                    .unwrap()
                    .to_string(),
                want
            );
        }
        for bad in [
            "2026-11-26",
            "2026-11-26T25:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T09:30:00",
            "2026-11-26T09:30:00+1:00",
            "x\r\n",
        ] {
            assert!(
                InternalDate::parse_rfc3339("internal_date", bad).is_err(),
                "{bad}"
            );
        }
    }
}
