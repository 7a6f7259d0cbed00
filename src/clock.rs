//! The time source. Production reads the system clock; tests use a manual clock so
//! that CloudWatch windows and timestamps in the output are deterministic.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in epoch seconds.
pub trait Clock: Debug + Send + Sync {
    fn now(&self) -> f64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }
}

/// The UTC date and time of epoch seconds (whole seconds; the representable range, clamped).
pub fn utc(epoch_seconds: f64) -> time::OffsetDateTime {
    let secs = (epoch_seconds.floor() as i64).clamp(-377_705_116_800, 253_402_300_799);
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-22` (UTC) for epoch seconds.
pub fn utc_day(epoch_seconds: f64) -> String {
    let date = utc(epoch_seconds).date();
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// `2026-11-22 05:13:13` (UTC) for epoch seconds.
pub fn utc_time(epoch_seconds: f64) -> String {
    let t = utc(epoch_seconds);
    format!("{} {:02}:{:02}:{:02}", utc_day(epoch_seconds), t.hour(), t.minute(), t.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days_are_civil_dates() {
        assert_eq!(utc_day(0.0), "1970-01-01");
        assert_eq!(utc_day(951_782_400.0), "2000-02-29");
        assert_eq!(utc_day(1_795_391_999.0), "2026-11-22");
        assert_eq!(utc_day(1_795_392_000.0), "2026-11-23");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc_time(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_795_391_999.9), "2026-11-22 23:59:59");
    }
}
