//! A generator of large estates, for benchmarks and scale tests.
//!
//! Every generated quota has a distinct usage metric (when it has one at all), so the
//! number of `GetMetricData` queries a refresh needs is exactly the number of quotas
//! with usage. Values are deterministic: the same size gives the same estate.

use crate::estate::{Account, Estate, Quota, Region, Service, Shape, UsageMetric};

/// The shape of a generated estate.
#[derive(Debug, Clone)]
pub struct Size {
    pub accounts: usize,
    pub regions: Vec<String>,
    pub services: usize,
    pub quotas_per_service: usize,
    /// Share of quotas that carry a usage metric, in [0, 1].
    pub usage_fraction: f64,
}

impl Size {
    /// One account in `regions`, each with `services` services of `quotas_per_service`
    /// quotas, `usage_fraction` of them with a usage metric.
    pub fn new(regions: &[&str], services: usize, quotas_per_service: usize, usage_fraction: f64) -> Size {
        Size {
            accounts: 1,
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            services,
            quotas_per_service,
            usage_fraction,
        }
    }

    /// Every quota of the estate.
    pub fn quotas(&self) -> usize {
        self.accounts * self.regions.len() * self.services * self.quotas_per_service
    }

    /// The shape in words, for benchmark reports.
    pub fn summary(&self) -> String {
        let accounts = if self.accounts == 1 { String::new() } else { format!("{} accounts x ", self.accounts) };
        format!(
            "{accounts}{} regions x {} services x {} quotas = {} quotas, {:.0} % with a usage metric",
            self.regions.len(),
            self.services,
            self.quotas_per_service,
            self.quotas(),
            self.usage_fraction * 100.0
        )
    }
}

/// Access key of generated account `i`.
pub fn access_key_id(i: usize) -> String {
    format!("AKIAGENERATED{i:07}")
}

/// Account id of generated account `i`.
pub fn account_id(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

/// Whether quota `index` of a service carries a usage metric.
pub fn has_usage(size: &Size, index: usize) -> bool {
    // Spread evenly: quota i has usage when the running share crosses an integer.
    let f = size.usage_fraction;
    ((index + 1) as f64 * f).floor() > (index as f64 * f).floor()
}

pub fn estate(size: &Size) -> Estate {
    let accounts = (0..size.accounts)
        .map(|a| {
            Account::new(&account_id(a), &access_key_id(a), size.regions.iter().map(|r| region(size, r)).collect())
        })
        .collect();
    Estate { accounts, organization: None }
}

fn region(size: &Size, name: &str) -> Region {
    let mut region = Region { name: name.into(), ..Region::default() };
    for s in 0..size.services {
        let code = format!("svc-{s:03}");
        let mut service = Service { code: code.clone(), name: format!("Generated Service {s:03}"), quotas: Vec::new() };
        for i in 0..size.quotas_per_service {
            let limit = 100.0 * (1 + (i % 50)) as f64;
            let mut quota = Quota::new(
                &format!("L-{:04X}{:04X}", s, i),
                &format!("Generated quota {i} of service {s} (per Region, \"count\")"),
                limit,
            );
            if i % 3 == 0 {
                quota = quota.applied(limit * 2.0).adjustable();
            }
            if has_usage(size, i) {
                let metric = UsageMetric::resource_count(&code, &format!("resource-{i}"), "None");
                let level = limit * ((i * 37) % 100) as f64 / 100.0;
                region.metrics.push(metric.series(Shape::Constant(level)));
                quota = quota.usage(metric);
            }
            service.quotas.push(quota);
        }
        region.services.push(service);
    }
    region
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_fraction_is_honoured_exactly_over_a_service() {
        let size = Size::new(&["us-east-1"], 1, 250, 0.4);
        let e = estate(&size);
        let r = &e.accounts[0].regions[0];
        assert_eq!(r.distinct_usage_metrics().len(), 100);
        assert_eq!(r.metrics.len(), 100);
    }
}
