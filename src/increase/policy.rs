//! What to ask AWS for, in pure functions.
//!
//! The value asked for is the forecast's recommended limit where the exporter has one
//! (enough for 30 days of the trend with headroom), otherwise the current limit times
//! `QUOTA_EXPORTER_INCREASE_FACTOR`; then capped at the current limit times
//! `QUOTA_EXPORTER_INCREASE_MAX_FACTOR` and at the quota's entry in
//! `QUOTA_EXPORTER_INCREASE_MAX_VALUES`. A value that does not end up above the
//! current one is not asked for: AWS would refuse it.

use crate::config::increase::IncreaseConfig;

/// The value to ask for, and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub desired: f64,
    /// In words, for the ledger: "the forecast's recommended limit, 990" and any cap.
    pub basis: String,
}

/// Why nothing is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct NoAsk(pub String);

/// The value to ask for a quota whose limit is `current`.
pub fn desired_value(
    config: &IncreaseConfig,
    service_code: &str,
    quota_code: &str,
    current: f64,
    recommended: Option<f64>,
) -> Result<Ask, NoAsk> {
    if !(current.is_finite() && current >= 0.0) {
        return Err(NoAsk(format!("the current limit {current} is not a number to increase")));
    }
    let (value, basis) = match recommended.filter(|r| *r > current) {
        Some(r) => (r, format!("the forecast's recommended limit, {}", show(r))),
        None => (current * config.factor, format!("the current limit {} times {}", show(current), config.factor)),
    };
    capped(config, service_code, quota_code, current, value, basis)
}

/// The value to ask for so that a quota whose limit is `current` reaches `need`, with
/// `why` saying where the need comes from ("us-east-1's peak of the last 7 days, 48");
/// the same caps apply.
pub fn desired_value_for_need(
    config: &IncreaseConfig,
    service_code: &str,
    quota_code: &str,
    current: f64,
    need: f64,
    why: String,
) -> Result<Ask, NoAsk> {
    if !(current.is_finite() && current >= 0.0) {
        return Err(NoAsk(format!("the current limit {current} is not a number to increase")));
    }
    if !need.is_finite() {
        return Err(NoAsk(format!("the need {need} is not a number")));
    }
    capped(config, service_code, quota_code, current, need, why)
}

/// `value` within the caps, rounded up, if still above `current`.
fn capped(
    config: &IncreaseConfig,
    service_code: &str,
    quota_code: &str,
    current: f64,
    mut value: f64,
    mut basis: String,
) -> Result<Ask, NoAsk> {
    let factor_cap = current * config.max_factor;
    if value > factor_cap {
        value = factor_cap;
        basis.push_str(&format!(", capped at {} times the current limit", config.max_factor));
    }
    if let Some(max) = config.max_value(service_code, quota_code)
        && value > max
    {
        value = max;
        basis.push_str(&format!(", capped at the configured maximum {}", show(max)));
    }
    let desired = round_up(value, current);
    if desired <= current {
        return Err(NoAsk(format!("{basis} is {}, not above the current limit {}", show(desired), show(current))));
    }
    Ok(Ask { desired, basis })
}

/// Whole quotas stay whole: a count of 1 times 1.5 asks for 2, not 1.5. Fractional
/// quotas keep two decimals, rounded up.
fn round_up(value: f64, current: f64) -> f64 {
    if current.fract() == 0.0 { value.ceil() } else { (value * 100.0).ceil() / 100.0 }
}

/// A limit as the ledger's details write it: whole numbers without decimals.
pub(crate) fn show(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::increase::QuotaRef;

    fn config() -> IncreaseConfig {
        IncreaseConfig { factor: 1.5, max_factor: 2.0, ..IncreaseConfig::default() }
    }

    #[test]
    fn the_recommended_limit_is_asked_for_where_there_is_one() {
        let a = desired_value(&config(), "ec2", "L-1216C47A", 640.0, Some(990.0)).expect("an ask");
        assert_eq!(a.desired, 990.0);
        assert_eq!(a.basis, "the forecast's recommended limit, 990");
    }

    #[test]
    fn without_a_recommendation_the_limit_is_multiplied_and_whole_counts_stay_whole() {
        assert_eq!(desired_value(&config(), "ec2", "L-1", 640.0, None).expect("an ask").desired, 960.0);
        assert_eq!(
            desired_value(&config(), "ec2", "L-1", 640.0, Some(600.0)).expect("an ask").desired,
            960.0,
            "a recommendation below the limit is no recommendation"
        );
        assert_eq!(desired_value(&config(), "ec2", "L-1", 1.0, None).expect("an ask").desired, 2.0);
        assert_eq!(desired_value(&config(), "ec2", "L-1", 0.5, None).expect("an ask").desired, 0.75);
    }

    #[test]
    fn every_cap_applies_and_says_so() {
        let a = desired_value(&config(), "ec2", "L-1", 640.0, Some(5000.0)).expect("an ask");
        assert_eq!(a.desired, 1280.0);
        assert_eq!(a.basis, "the forecast's recommended limit, 5000, capped at 2 times the current limit");
        let capped = IncreaseConfig {
            max_values: vec![(QuotaRef { service_code: "ec2".into(), quota_code: "L-1".into() }, 700.0)],
            ..config()
        };
        let a = desired_value(&capped, "ec2", "L-1", 640.0, None).expect("an ask");
        assert_eq!(a.desired, 700.0);
        assert!(a.basis.ends_with("capped at the configured maximum 700"), "{}", a.basis);
        assert_eq!(desired_value(&capped, "ec2", "L-2", 640.0, None).expect("another quota").desired, 960.0);
    }

    #[test]
    fn a_need_is_asked_for_within_the_same_caps() {
        let a =
            desired_value_for_need(&config(), "ec2", "L-1", 32.0, 48.0, "us-east-1's peak, 48".into()).expect("an ask");
        assert_eq!((a.desired, a.basis.as_str()), (48.0, "us-east-1's peak, 48"));
        let a = desired_value_for_need(&config(), "ec2", "L-1", 32.0, 100.0, "a big peak, 100".into()).expect("an ask");
        assert_eq!((a.desired, a.basis.as_str()), (64.0, "a big peak, 100, capped at 2 times the current limit"));
        assert!(desired_value_for_need(&config(), "ec2", "L-1", 32.0, 30.0, "a peak".into()).is_err());
        assert!(
            desired_value_for_need(&config(), "ec2", "L-1", 32.0, 40.5, "a peak".into()).expect("an ask").desired
                == 41.0
        );
    }

    #[test]
    fn nothing_is_asked_when_the_caps_leave_nothing_above_the_current_limit() {
        let capped = IncreaseConfig {
            max_values: vec![(QuotaRef { service_code: "ec2".into(), quota_code: "L-1".into() }, 640.0)],
            ..config()
        };
        let no = desired_value(&capped, "ec2", "L-1", 640.0, None).expect_err("no ask");
        assert_eq!(
            no.0,
            "the current limit 640 times 1.5, capped at the configured maximum 640 is 640, not above the current limit 640"
        );
        assert!(desired_value(&config(), "ec2", "L-1", f64::NAN, None).is_err());
        assert!(desired_value(&config(), "ec2", "L-1", 0.0, None).is_err(), "0 times anything is 0");
    }
}
