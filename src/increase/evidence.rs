//! Whether the exporter's own data backs an alert, in pure functions.
//!
//! Anyone who can post to Alertmanager can make an alert that names a quota; the
//! receiver acts only when its own latest snapshot agrees: the quota's utilisation is
//! at least `QUOTA_EXPORTER_INCREASE_MIN_UTILIZATION`, or its usage trend (on a decent
//! fit) reaches the limit within `QUOTA_EXPORTER_INCREASE_FORECAST_DAYS`.

/// The fit a forecast needs to count as evidence: the shipped forecast alert's R².
pub const MIN_FIT_R2: f64 = 0.8;

/// What the exporter knows about a quota at the moment it decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub limit: f64,
    /// In the quota's own terms (per period for rate quotas).
    pub usage: Option<f64>,
    /// How old that reading is, in seconds: a reading kept from before a run of failed
    /// refreshes is no evidence of today.
    pub usage_age: Option<f64>,
    /// The oldest reading taken as evidence, in seconds.
    pub max_usage_age: f64,
    /// When the usage trend reaches the limit (epoch seconds).
    pub exhaustion: Option<f64>,
    pub r2: Option<f64>,
}

impl Evidence {
    pub fn utilization(&self) -> Option<f64> {
        crate::model::utilization(self.usage?, Some(self.limit))
    }

    fn stale(&self) -> bool {
        self.usage_age.is_some_and(|age| age > self.max_usage_age)
    }
}

/// `Ok` with what backs the alert, or `Err` with why nothing does.
pub fn corroborate(e: &Evidence, min_utilization: f64, forecast_days: u32, now: f64) -> Result<String, String> {
    let utilization = e.utilization().filter(|_| !e.stale());
    if let Some(u) = utilization.filter(|u| *u >= min_utilization) {
        return Ok(format!("the exporter's own utilisation is {}", percent(u)));
    }
    let horizon = now + f64::from(forecast_days) * 86_400.0;
    let forecast = e.exhaustion.zip(e.r2).filter(|(at, r2)| forecast_days > 0 && *at <= horizon && *r2 >= MIN_FIT_R2);
    if let Some((at, _)) = forecast {
        return Ok(format!(
            "the exporter's forecast reaches the limit in {:.1} days",
            ((at - now) / 86_400.0).max(0.0)
        ));
    }
    let seen = match (utilization, e.usage, e.usage_age) {
        (Some(u), Some(usage), _) => format!("utilisation {} (usage {usage} of {})", percent(u), e.limit),
        (None, Some(_), Some(age)) if e.stale() => {
            format!(
                "no usage reading newer than {:.0} minutes (the latest is {:.0} minutes old)",
                e.max_usage_age / 60.0,
                age / 60.0
            )
        }
        _ => "no usage".to_owned(),
    };
    let forecast = match (e.exhaustion, e.r2) {
        (Some(at), Some(r2)) => format!("a forecast exhaustion in {:.1} days with R² {r2:.2}", (at - now) / 86_400.0),
        _ => "no forecast exhaustion".to_owned(),
    };
    let days = if forecast_days == 0 {
        "forecasts are not taken as evidence".to_owned()
    } else {
        format!("or a forecast exhaustion within {forecast_days} days at R² {MIN_FIT_R2}")
    };
    Err(format!(
        "the exporter's own data does not back the alert: {seen} and {forecast}; it takes a utilisation of at least {} \
         (QUOTA_EXPORTER_INCREASE_MIN_UTILIZATION) {days}",
        percent(min_utilization)
    ))
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_795_000_000.0;
    const DAY: f64 = 86_400.0;

    fn at(usage: Option<f64>) -> Evidence {
        Evidence { limit: 1000.0, usage, usage_age: Some(60.0), max_usage_age: 1500.0, exhaustion: None, r2: None }
    }

    #[test]
    fn a_reading_older_than_the_refreshes_allow_is_no_evidence() {
        let old = Evidence { usage_age: Some(3600.0), ..at(Some(950.0)) };
        let no = corroborate(&old, 0.8, 14, NOW).expect_err("an hour-old reading backs nothing");
        assert!(no.contains("no usage reading newer than 25 minutes (the latest is 60 minutes old)"), "{no}");
    }

    #[test]
    fn utilisation_at_the_minimum_corroborates_and_below_it_does_not() {
        assert_eq!(corroborate(&at(Some(950.0)), 0.8, 14, NOW), Ok("the exporter's own utilisation is 95.0 %".into()));
        assert!(corroborate(&at(Some(800.0)), 0.8, 14, NOW).is_ok(), "the minimum itself is enough");
        let no = corroborate(&at(Some(100.0)), 0.8, 14, NOW).expect_err("10 % is no evidence");
        assert!(
            no.starts_with("the exporter's own data does not back the alert: utilisation 10.0 % (usage 100 of 1000)"),
            "{no}"
        );
        assert!(corroborate(&at(None), 0.8, 14, NOW).expect_err("no usage").contains("no usage and no forecast"));
    }

    #[test]
    fn a_forecast_corroborates_only_within_its_horizon_and_on_a_decent_fit() {
        let rising =
            |days: f64, r2: f64| Evidence { exhaustion: Some(NOW + days * DAY), r2: Some(r2), ..at(Some(300.0)) };
        assert_eq!(
            corroborate(&rising(10.0, 0.9), 0.8, 14, NOW),
            Ok("the exporter's forecast reaches the limit in 10.0 days".into())
        );
        assert!(corroborate(&rising(20.0, 0.9), 0.8, 14, NOW).is_err(), "beyond the horizon");
        assert!(corroborate(&rising(10.0, 0.5), 0.8, 14, NOW).is_err(), "a poor fit");
        assert!(corroborate(&rising(10.0, 0.9), 0.8, 0, NOW).is_err(), "forecasts turned off");
    }
}
