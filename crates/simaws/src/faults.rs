//! Fault injection: latency, throttling, server errors, access denial and any other
//! error code, aimed at an operation, region, account or Service Quotas service code,
//! for a number of calls, one call in n, or a random share of calls (seeded, so a run
//! repeats), until cleared. Each protocol handler turns an injected fault into that
//! protocol's real error shape, so the SDK sees exactly what AWS would send. A
//! `committed` fault lets the request take effect first and then answers with the
//! error: the lost answer of a request AWS did carry out.

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
    /// Answer with this HTTP status and error code.
    Error { status: u16, code: String },
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
    /// Apply to each matching request with this probability (after `skip` and `every`).
    pub probability: Option<f64>,
    /// Carry the request out, then answer with the error.
    pub committed: bool,
    /// Matching requests seen so far (for `skip` and `every`).
    seen: u64,
    /// The state of the rule's random numbers.
    rng: u64,
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
            probability: None,
            committed: false,
            seen: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Answers with `code` and HTTP `status`, in the API's error shape.
    pub fn error(status: u16, code: &str) -> Fault {
        Fault::new(FaultKind::Error { status, code: code.into() })
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

    /// Applies to each matching request with probability `p` (0 to 1), drawn from a
    /// generator seeded with `seed`: the same seed gives the same sequence.
    pub fn probability(mut self, p: f64, seed: u64) -> Fault {
        self.probability = Some(p.clamp(0.0, 1.0));
        self.rng = seed | 1;
        self
    }

    /// Lets the request take effect before the error is answered.
    pub fn committed(mut self) -> Fault {
        self.committed = true;
        self
    }

    /// The next number in `[0, 1)` (xorshift64*).
    fn draw(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
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

/// The decision for one request: a delay and at most one error, answered before or
/// after the request takes effect.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    pub delay: Duration,
    pub error: Option<FaultKind>,
    pub committed: bool,
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
        if let Some(p) = rule.probability
            && rule.draw() >= p
        {
            continue;
        }
        match &rule.kind {
            FaultKind::Latency(d) => verdict.delay += *d,
            kind if verdict.error.is_none() => {
                verdict.error = Some(kind.clone());
                verdict.committed = rule.committed;
            }
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
    fn a_random_fault_hits_about_its_share_and_the_same_seed_repeats() {
        let run = |seed| {
            let mut rules = vec![Fault::throttle().probability(0.3, seed)];
            let c = call("ListServiceQuotas", "us-east-1", Some("ec2"));
            (0..10_000).map(|_| judge(&mut rules, &c).error.is_some()).collect::<Vec<bool>>()
        };
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((2_800..3_200).contains(&hits), "{hits} of 10,000");
        assert_eq!(run(7), run(7), "deterministic for a seed");
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_committed_fault_says_so_in_its_verdict() {
        let mut rules = vec![Fault::server_error().operation("RequestServiceQuotaIncrease").committed().times(1)];
        let c = call("RequestServiceQuotaIncrease", "us-east-1", Some("ec2"));
        let v = judge(&mut rules, &c);
        assert_eq!((v.error, v.committed), (Some(FaultKind::ServerError), true));
        assert_eq!(judge(&mut rules, &c), Verdict::default(), "used up");
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
