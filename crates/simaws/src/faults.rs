//! Fault injection: latency, throttling, server errors and access denial, aimed at an
//! operation, region, account or Service Quotas service code, for a number of calls or
//! until cleared. Each protocol handler turns an injected fault into that protocol's
//! real error shape, so the SDK sees exactly what AWS would send.

use std::time::Duration;

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Delay the response, then answer normally.
    Latency(Duration),
    /// Answer with the API's throttling error.
    Throttle,
    /// Answer with the API's HTTP 5xx error.
    ServerError,
    /// Answer with the API's access-denied error.
    AccessDenied,
}

/// A fault rule. Fields left `None` match anything.
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    pub operation: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub service_code: Option<String>,
    /// How many more requests this rule applies to; `None` means until cleared.
    pub remaining: Option<u32>,
    /// Matching requests to let through before the rule starts applying.
    pub skip: u32,
    /// Apply to one matching request in this many (1: every one).
    pub every: u32,
    /// Matching requests seen so far (for `skip` and `every`).
    seen: u64,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            operation: None,
            region: None,
            account_id: None,
            service_code: None,
            remaining: None,
            skip: 0,
            every: 1,
            seen: 0,
        }
    }

    pub fn throttle() -> Fault {
        Fault::new(FaultKind::Throttle)
    }

    pub fn server_error() -> Fault {
        Fault::new(FaultKind::ServerError)
    }

    pub fn access_denied() -> Fault {
        Fault::new(FaultKind::AccessDenied)
    }

    pub fn latency(delay: Duration) -> Fault {
        Fault::new(FaultKind::Latency(delay))
    }

    pub fn operation(mut self, operation: &str) -> Fault {
        self.operation = Some(operation.into());
        self
    }

    pub fn region(mut self, region: &str) -> Fault {
        self.region = Some(region.into());
        self
    }

    pub fn account(mut self, account_id: &str) -> Fault {
        self.account_id = Some(account_id.into());
        self
    }

    pub fn service_code(mut self, code: &str) -> Fault {
        self.service_code = Some(code.into());
        self
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.remaining = Some(n);
        self
    }

    /// Lets the first `n` matching requests through (a source that works, then breaks).
    pub fn after(mut self, n: u32) -> Fault {
        self.skip = n;
        self
    }

    /// Applies to one matching request in `n` (intermittent throttling).
    pub fn every(mut self, n: u32) -> Fault {
        self.every = n.max(1);
        self
    }

    fn matches(&self, call: &CallContext<'_>) -> bool {
        fn field(rule: &Option<String>, actual: Option<&str>) -> bool {
            rule.as_deref().is_none_or(|r| Some(r) == actual)
        }
        self.remaining != Some(0)
            && field(&self.operation, Some(call.operation))
            && field(&self.region, Some(call.region))
            && field(&self.account_id, Some(call.account_id))
            && field(&self.service_code, call.service_code)
    }
}

/// What the handlers know about a request when they consult the faults.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    pub operation: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub service_code: Option<&'a str>,
}

/// The decision for one request: a delay and at most one error.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    pub delay: Duration,
    pub error: Option<FaultKind>,
}

/// Applies the rules to one request, consuming a use of every rule that fires.
pub(crate) fn judge(rules: &mut [Fault], call: &CallContext<'_>) -> Verdict {
    let mut verdict = Verdict::default();
    for rule in rules.iter_mut().filter(|r| r.matches(call)) {
        rule.seen += 1;
        let n = rule.seen - 1;
        if n < u64::from(rule.skip) || (n - u64::from(rule.skip)) % u64::from(rule.every) != 0 {
            continue;
        }
        match &rule.kind {
            FaultKind::Latency(d) => verdict.delay += *d,
            kind if verdict.error.is_none() => verdict.error = Some(kind.clone()),
            _ => continue,
        }
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(op: &'a str, region: &'a str, service: Option<&'a str>) -> CallContext<'a> {
        CallContext { operation: op, region, account_id: "111111111111", service_code: service }
    }

    #[test]
    fn a_counted_fault_stops_after_its_uses() {
        let mut rules = vec![Fault::throttle().operation("ListServiceQuotas").times(2)];
        let c = call("ListServiceQuotas", "us-east-1", Some("ec2"));
        assert_eq!(judge(&mut rules, &c).error, Some(FaultKind::Throttle));
        assert_eq!(judge(&mut rules, &c).error, Some(FaultKind::Throttle));
        assert_eq!(judge(&mut rules, &c).error, None);
    }

    #[test]
    fn a_fault_aimed_at_a_region_leaves_other_regions_alone() {
        let mut rules = vec![Fault::access_denied().region("eu-west-1")];
        assert_eq!(judge(&mut rules, &call("ListServices", "us-east-1", None)).error, None);
        assert_eq!(judge(&mut rules, &call("ListServices", "eu-west-1", None)).error, Some(FaultKind::AccessDenied));
    }

    #[test]
    fn a_fault_after_n_calls_lets_the_first_ones_through() {
        let mut rules = vec![Fault::access_denied().operation("ListMetrics").after(2)];
        let c = call("ListMetrics", "eu-west-1", None);
        let outcomes: Vec<bool> = (0..4).map(|_| judge(&mut rules, &c).error.is_some()).collect();
        assert_eq!(outcomes, [false, false, true, true]);
    }

    #[test]
    fn an_intermittent_fault_applies_to_one_call_in_n() {
        let mut rules = vec![Fault::throttle().operation("GetMetricData").every(3)];
        let c = call("GetMetricData", "us-east-1", None);
        let outcomes: Vec<bool> = (0..7).map(|_| judge(&mut rules, &c).error.is_some()).collect();
        assert_eq!(outcomes, [true, false, false, true, false, false, true]);
    }

    #[test]
    fn latency_adds_up_and_does_not_block_an_error() {
        let mut rules = vec![
            Fault::latency(Duration::from_millis(20)),
            Fault::latency(Duration::from_millis(5)),
            Fault::server_error().service_code("ec2"),
        ];
        let v = judge(&mut rules, &call("ListServiceQuotas", "us-east-1", Some("ec2")));
        assert_eq!(v.delay, Duration::from_millis(25));
        assert_eq!(v.error, Some(FaultKind::ServerError));
    }
}
