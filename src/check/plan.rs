//! Terraform plans in their JSON form (`terraform show -json plan.out`) turned into quota
//! demand through a table of resource types, each mapped only to a quota that exists in
//! Service Quotas.
//!
//! A change's demand is what its `after` object uses minus what its `before` object
//! used: a create adds, a delete frees, an update or a replace counts the difference
//! once. A resource type the table does not know is listed as not assessed, never
//! passed over in silence.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::instances;
use super::{CannotAssess, Need};

/// What Terraform will do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Delete,
    Update,
    Replace,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Update => "update",
            Action::Replace => "replace",
        }
    }
}

/// An amount a change adds to (or, negative, frees from) one quota.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    pub region: String,
    pub service_code: String,
    pub quota_code: String,
    pub amount: f64,
    /// What the amount is made of, e.g. "8 vCPUs (m5.2xlarge), Standard family".
    pub what: String,
}

/// What a resource change does to the quotas.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "effect", content = "detail", rename_all = "snake_case")]
pub enum Effect {
    Demand(Vec<Demand>),
    /// A type known to use no quota by itself (the reason says why).
    NoQuota(String),
    /// A type or a value the table cannot turn into demand.
    NotAssessed(String),
}

/// One resource change of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub action: Action,
    #[serde(flatten)]
    pub effect: Effect,
}

/// A plan's changes (no-ops and reads left out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// The demand as needs, for `account` (or the account holding each quota).
    pub fn needs(&self, account: Option<&str>) -> Vec<Need> {
        let mut out = Vec::new();
        for c in &self.changes {
            let Effect::Demand(demand) = &c.effect else { continue };
            for d in demand {
                out.push(Need {
                    account: account.map(str::to_owned),
                    region: d.region.clone(),
                    service_code: d.service_code.clone(),
                    quota_code: d.quota_code.clone(),
                    add: d.amount,
                    note: Some(c.address.clone()),
                });
            }
        }
        out
    }

    /// The changes the table could not turn into demand.
    pub fn not_assessed(&self) -> impl Iterator<Item = (&Change, &str)> {
        self.changes.iter().filter_map(|c| match &c.effect {
            Effect::NotAssessed(why) => Some((c, why.as_str())),
            _ => None,
        })
    }

    /// vCPUs added per EC2 family, in the order of the first change that touches it.
    pub fn vcpus_by_family(&self) -> Vec<(&'static str, f64)> {
        let mut out: Vec<(&'static str, f64)> = Vec::new();
        for d in self.changes.iter().filter_map(|c| match &c.effect {
            Effect::Demand(d) => Some(d),
            _ => None,
        }) {
            for d in d.iter().filter(|d| d.service_code == "ec2") {
                let Some(f) = instances::FAMILIES.iter().find(|f| f.quota_code == d.quota_code) else { continue };
                match out.iter_mut().find(|(n, _)| *n == f.name) {
                    Some((_, v)) => *v += d.amount,
                    None => out.push((f.name, d.amount)),
                }
            }
        }
        out
    }
}

/// A quota a resource counts against, one per resource.
struct Counted {
    service_code: &'static str,
    quota_code: &'static str,
    what: &'static str,
}

const fn counted(service_code: &'static str, quota_code: &'static str, what: &'static str) -> Counted {
    Counted { service_code, quota_code, what }
}

/// Resource types that count once against one quota.
const ONE_EACH: [(&str, Counted); 9] = [
    ("aws_eip", counted("ec2", "L-0263D0A3", "1 Elastic IP")),
    ("aws_vpc", counted("vpc", "L-F678F1CE", "1 VPC")),
    ("aws_internet_gateway", counted("vpc", "L-A4707A72", "1 internet gateway")),
    ("aws_nat_gateway", counted("vpc", "L-FE5A380F", "1 NAT gateway (the quota is per Availability Zone)")),
    ("aws_security_group", counted("vpc", "L-E79EC296", "1 security group")),
    ("aws_elb", counted("elasticloadbalancing", "L-E9E9831D", "1 Classic Load Balancer")),
    ("aws_db_instance", counted("rds", "L-7B6409FD", "1 DB instance")),
    ("aws_ecs_cluster", counted("ecs", "L-21C621EB", "1 ECS cluster")),
    ("aws_eks_cluster", counted("eks", "L-1194D53C", "1 EKS cluster")),
];

/// Load balancers by `load_balancer_type` (application when unset).
const LOAD_BALANCERS: [(&str, Counted); 2] = [
    ("application", counted("elasticloadbalancing", "L-53DA6B97", "1 Application Load Balancer")),
    ("network", counted("elasticloadbalancing", "L-69A177A2", "1 Network Load Balancer")),
];

/// Types that use no quota by themselves.
const NO_QUOTA: [(&str, &str); 1] =
    [("aws_launch_template", "a launch template uses no quota itself: its instances count where they run")];

/// Types counted by their own rule in [`uses`], beside the tables above.
const OWN_RULE: [&str; 5] =
    ["aws_instance", "aws_autoscaling_group", "aws_eks_node_group", "aws_lb", "aws_lambda_function"];

/// Every resource type the table knows (the README's Terraform table lists them).
pub fn known_types() -> Vec<&'static str> {
    OWN_RULE.iter().chain(ONE_EACH.iter().map(|(t, _)| t)).chain(NO_QUOTA.iter().map(|(t, _)| t)).copied().collect()
}

/// Why a resource object gives no demand.
enum Not {
    NoQuota(String),
    Assessed(String),
}

type Uses = Vec<(&'static str, &'static str, f64, String)>;

/// Reads a plan; `name` is its path, for messages. `default_region` is for resources
/// whose region the plan does not say.
pub fn read(text: &str, name: &str, default_region: Option<&str>) -> Result<Plan, CannotAssess> {
    let not_plan = |why: &str| {
        CannotAssess(format!(
            "{name} is not a Terraform plan in JSON ({why}); expected the output of terraform show -json plan.out"
        ))
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| not_plan(&e.to_string()))?;
    let Some(top) = doc.as_object() else { return Err(not_plan("not a JSON object")) };
    if !top.get("format_version").is_some_and(Value::is_string) {
        return Err(not_plan("no format_version"));
    }
    let changes = match top.get("resource_changes") {
        None if top.contains_key("planned_values") => &Vec::new(),
        Some(Value::Array(a)) => a,
        _ => return Err(not_plan("no resource_changes list")),
    };
    let index = Index { doc: &doc, changes };
    let mut plan = Plan::default();
    let mut problems = Vec::new();
    for (i, rc) in changes.iter().enumerate() {
        let field = |k: &str| rc.get(k).and_then(Value::as_str);
        let (Some(address), Some(resource_type)) = (field("address"), field("type")) else {
            return Err(not_plan(&format!("resource_changes[{i}] has no address or type")));
        };
        if field("mode") == Some("data") {
            continue;
        }
        let change = rc.get("change").ok_or_else(|| not_plan(&format!("{address} has no change")))?;
        let actions: Vec<&str> = change
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .ok_or_else(|| not_plan(&format!("{address} has no change.actions")))?;
        let action = match actions.as_slice() {
            ["create"] => Action::Create,
            ["delete"] => Action::Delete,
            ["update"] => Action::Update,
            ["delete", "create"] | ["create", "delete"] => Action::Replace,
            ["no-op"] | ["read"] | ["forget"] => continue,
            other => return Err(not_plan(&format!("{address} has unknown actions {other:?}"))),
        };
        let before = change.get("before").filter(|v| v.is_object());
        let after = change.get("after").filter(|v| v.is_object());
        let side = |object: Option<&Value>| -> Result<Uses, Not> {
            match object {
                None => Ok(Vec::new()),
                Some(o) => uses(resource_type, address, o, &index),
            }
        };
        let effect = match (side(after), side(before)) {
            (Err(Not::Assessed(why)), _) | (_, Err(Not::Assessed(why))) => Effect::NotAssessed(why),
            (Err(Not::NoQuota(why)), _) | (_, Err(Not::NoQuota(why))) => Effect::NoQuota(why),
            (Ok(added), Ok(freed)) => {
                let region = after
                    .or(before)
                    .and_then(|o| o.get("region"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| index.provider_region(address))
                    .or_else(|| default_region.map(str::to_owned));
                match region {
                    None if !added.is_empty() || !freed.is_empty() => {
                        problems.push(format!("{address}: the plan does not say its region; pass --region"));
                        continue;
                    }
                    region => Effect::Demand(net(region.unwrap_or_default(), added, freed)),
                }
            }
        };
        plan.changes.push(Change {
            address: address.to_owned(),
            resource_type: resource_type.to_owned(),
            action,
            effect,
        });
    }
    if problems.is_empty() { Ok(plan) } else { Err(CannotAssess(problems.join("\n  "))) }
}

/// What `after` uses minus what `before` used, per quota, in a stable order.
fn net(region: String, added: Uses, freed: Uses) -> Vec<Demand> {
    let mut by_quota: BTreeMap<(&str, &str), (f64, Vec<String>)> = BTreeMap::new();
    for (sign, uses) in [(1.0, added), (-1.0, freed)] {
        for (service, quota, amount, what) in uses {
            let entry = by_quota.entry((service, quota)).or_default();
            entry.0 += sign * amount;
            entry.1.push(if sign > 0.0 { what } else { format!("frees {what}") });
        }
    }
    by_quota
        .into_iter()
        .map(|((service, quota), (amount, what))| Demand {
            region: region.clone(),
            service_code: service.to_owned(),
            quota_code: quota.to_owned(),
            amount,
            what: what.join(", "),
        })
        .collect()
}

/// What one resource object (a `before` or an `after`) uses.
fn uses(resource_type: &str, address: &str, o: &Value, index: &Index) -> Result<Uses, Not> {
    if let Some((_, c)) = ONE_EACH.iter().find(|(t, _)| *t == resource_type) {
        if resource_type == "aws_eip" && o.get("domain").and_then(Value::as_str) == Some("standard") {
            return Err(Not::Assessed("an EC2-Classic Elastic IP (domain standard)".into()));
        }
        return Ok(vec![(c.service_code, c.quota_code, 1.0, c.what.to_owned())]);
    }
    if let Some((_, why)) = NO_QUOTA.iter().find(|(t, _)| *t == resource_type) {
        return Err(Not::NoQuota((*why).to_owned()));
    }
    match resource_type {
        "aws_instance" => {
            if o.pointer("/instance_market_options/0/market_type").and_then(Value::as_str) == Some("spot") {
                return Err(Not::Assessed("a Spot instance: the Spot quotas are not in the table".into()));
            }
            if o.get("tenancy").and_then(Value::as_str) == Some("host") {
                return Err(Not::Assessed(
                    "an instance on a Dedicated Host: the host quotas are not in the table".into(),
                ));
            }
            let instance_type = match o.get("instance_type").and_then(Value::as_str) {
                Some(t) => t.to_owned(),
                None => index.launch_template_type(address, o)?,
            };
            vcpus(&instance_type, 1.0)
        }
        "aws_autoscaling_group" => {
            if o.pointer("/mixed_instances_policy/0").is_some() {
                return Err(Not::Assessed("a mixed instances policy: its instance types vary".into()));
            }
            let count = number(o, "desired_capacity")
                .or_else(|| number(o, "min_size"))
                .ok_or_else(|| Not::Assessed("its capacity is not known until apply".into()))?;
            let instance_type = index.launch_template_type(address, o)?;
            vcpus(&instance_type, count)
        }
        "aws_eks_node_group" => {
            let count = o
                .pointer("/scaling_config/0/desired_size")
                .and_then(Value::as_f64)
                .ok_or_else(|| Not::Assessed("its desired size is not known until apply".into()))?;
            let instance_type = match o.get("instance_types") {
                Some(Value::Array(types)) if !types.is_empty() => types[0]
                    .as_str()
                    .ok_or_else(|| Not::Assessed("its instance types are not known until apply".into()))?,
                _ => "t3.medium",
            };
            vcpus(instance_type, count)
        }
        "aws_lb" => {
            let kind = o.get("load_balancer_type").and_then(Value::as_str).unwrap_or("application");
            let (_, c) = LOAD_BALANCERS
                .iter()
                .find(|(k, _)| *k == kind)
                .ok_or_else(|| Not::Assessed(format!("a {kind} load balancer: its quota is not in the table")))?;
            Ok(vec![(c.service_code, c.quota_code, 1.0, c.what.to_owned())])
        }
        "aws_lambda_function" => {
            // -1 (the default) reserves nothing.
            let reserved = number(o, "reserved_concurrent_executions").unwrap_or(-1.0);
            if reserved <= 0.0 {
                return Ok(Vec::new());
            }
            Ok(vec![("lambda", "L-B99A9384", reserved, format!("{reserved} reserved concurrent executions"))])
        }
        other => Err(Not::Assessed(format!("{other} is not in the resource table"))),
    }
}

fn number(o: &Value, key: &str) -> Option<f64> {
    o.get(key).and_then(Value::as_f64)
}

/// `count` instances of a type, in vCPUs against its family's quota.
fn vcpus(instance_type: &str, count: f64) -> Result<Uses, Not> {
    let family = instances::family_of(instance_type).map_err(Not::Assessed)?;
    let per = instances::vcpus(instance_type).ok_or_else(|| {
        Not::Assessed(format!("{instance_type} is not in the instance table ({})", instances::provenance()))
    })?;
    let total = count * f64::from(per);
    // "Standard", not the letters of "Standard (A, C, D, H, I, M, R, T, Z)".
    let short = family.name.split(" (").next().unwrap_or(family.name);
    let what = if count == 1.0 {
        format!("{per} {short} vCPUs ({instance_type})")
    } else {
        format!("{total} {short} vCPUs ({count} x {instance_type})")
    };
    Ok(vec![("ec2", family.quota_code, total, what)])
}

/// The plan, to look things up across resources.
struct Index<'a> {
    doc: &'a Value,
    changes: &'a [Value],
}

impl Index<'_> {
    /// The region of the provider configuration a root module resource uses.
    fn provider_region(&self, address: &str) -> Option<String> {
        let providers = self.doc.pointer("/configuration/provider_config")?.as_object()?;
        let key = self
            .config_resource(address)
            .and_then(|r| r.get("provider_config_key"))
            .and_then(Value::as_str)
            .unwrap_or("aws");
        let key = key.rsplit(':').next().unwrap_or(key);
        providers.get(key)?.pointer("/expressions/region/constant_value")?.as_str().map(str::to_owned)
    }

    /// A root module resource of the configuration, by the change's address.
    fn config_resource(&self, address: &str) -> Option<&Value> {
        let base = address.split('[').next().unwrap_or(address);
        self.doc
            .pointer("/configuration/root_module/resources")?
            .as_array()?
            .iter()
            .find(|r| r.get("address").and_then(Value::as_str) == Some(base))
    }

    /// The object a launch template change will leave (or, deleted, had).
    fn launch_template(&self, matches: impl Fn(&str, &Value) -> bool) -> Option<&Value> {
        self.changes.iter().filter(|rc| rc.get("type").and_then(Value::as_str) == Some("aws_launch_template")).find_map(
            |rc| {
                let address = rc.get("address").and_then(Value::as_str)?;
                let change = rc.get("change")?;
                let o = change.get("after").filter(|v| v.is_object()).or(change.get("before"))?;
                matches(address, o).then_some(o)
            },
        )
    }

    /// The instance type of the launch template a resource names: by name, by id, or by
    /// the configuration's reference to a template of the same plan.
    fn launch_template_type(&self, address: &str, o: &Value) -> Result<String, Not> {
        let spec = o.pointer("/launch_template/0");
        let Some(spec) = spec else {
            return Err(Not::Assessed("neither an instance type nor a launch template".into()));
        };
        let name = spec.get("name").and_then(Value::as_str);
        let id = spec.get("id").and_then(Value::as_str);
        let by_value = self.launch_template(|_, lt| {
            name.is_some() && lt.get("name").and_then(Value::as_str) == name
                || id.is_some() && lt.get("id").and_then(Value::as_str) == id
        });
        let referenced = || {
            let refs = self.config_resource(address)?.pointer("/expressions/launch_template/0")?.as_object()?;
            let targets: Vec<&str> = refs
                .values()
                .filter_map(|e| e.get("references")?.as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            self.launch_template(|a, _| targets.contains(&a))
        };
        let template = by_value.or_else(referenced).ok_or_else(|| {
            let named = name.or(id).map(|n| format!(" {n}")).unwrap_or_default();
            Not::Assessed(format!("its launch template{named} is not in the plan, so its instance type is unknown"))
        })?;
        template
            .get("instance_type")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Not::Assessed("its launch template sets no instance type".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(changes: &str) -> String {
        format!(
            r#"{{"format_version": "1.2", "terraform_version": "1.9.5", "resource_changes": [{changes}],
                "configuration": {{"provider_config": {{"aws": {{"name": "aws",
                  "expressions": {{"region": {{"constant_value": "us-east-1"}}}}}},
                  "aws.west": {{"name": "aws", "alias": "west",
                  "expressions": {{"region": {{"constant_value": "us-west-2"}}}}}}}},
                  "root_module": {{"resources": [
                    {{"address": "aws_instance.far", "provider_config_key": "aws.west"}},
                    {{"address": "aws_autoscaling_group.workers", "expressions": {{"launch_template": [
                      {{"id": {{"references": ["aws_launch_template.workers.id", "aws_launch_template.workers"]}}}}]}}}}
                  ]}}}}}}"#
        )
    }

    fn rc(address: &str, kind: &str, actions: &str, before: &str, after: &str) -> String {
        format!(
            r#"{{"address": "{address}", "mode": "managed", "type": "{kind}", "name": "x",
                 "provider_name": "registry.terraform.io/hashicorp/aws",
                 "change": {{"actions": {actions}, "before": {before}, "after": {after}}}}}"#
        )
    }

    fn demand(p: &Plan, address: &str) -> Vec<(String, String, f64)> {
        match &p.changes.iter().find(|c| c.address == address).expect(address).effect {
            Effect::Demand(d) => d.iter().map(|d| (d.region.clone(), d.quota_code.clone(), d.amount)).collect(),
            other => panic!("{address}: {other:?}"),
        }
    }

    #[test]
    fn creates_add_deletes_free_and_updates_and_replaces_count_the_difference_once() {
        let text = plan(
            &[
                rc(
                    "aws_instance.web[0]",
                    "aws_instance",
                    r#"["create"]"#,
                    "null",
                    r#"{"instance_type": "m5.2xlarge"}"#,
                ),
                rc("aws_instance.old", "aws_instance", r#"["delete"]"#, r#"{"instance_type": "c5.xlarge"}"#, "null"),
                rc(
                    "aws_instance.api",
                    "aws_instance",
                    r#"["update"]"#,
                    r#"{"instance_type": "m5.large"}"#,
                    r#"{"instance_type": "m5.xlarge"}"#,
                ),
                rc(
                    "aws_instance.gpu",
                    "aws_instance",
                    r#"["delete", "create"]"#,
                    r#"{"instance_type": "m5.xlarge"}"#,
                    r#"{"instance_type": "g5.2xlarge"}"#,
                ),
                rc("aws_instance.same", "aws_instance", r#"["no-op"]"#, r#"{"instance_type": "m5.large"}"#, "{}"),
            ]
            .join(","),
        );
        let p = read(&text, "plan.json", None).expect("a plan");
        assert_eq!(p.changes.len(), 4, "the no-op is no change");
        assert_eq!(demand(&p, "aws_instance.web[0]"), [("us-east-1".into(), "L-1216C47A".into(), 8.0)]);
        assert_eq!(demand(&p, "aws_instance.old"), [("us-east-1".into(), "L-1216C47A".into(), -4.0)]);
        assert_eq!(demand(&p, "aws_instance.api"), [("us-east-1".into(), "L-1216C47A".into(), 2.0)]);
        assert_eq!(
            demand(&p, "aws_instance.gpu"),
            [("us-east-1".into(), "L-1216C47A".into(), -4.0), ("us-east-1".into(), "L-DB2E81BA".into(), 8.0)],
            "a replace frees the old family and takes the new one, once"
        );
        assert_eq!(p.vcpus_by_family(), [("Standard (A, C, D, H, I, M, R, T, Z)", 2.0), ("G and VT", 8.0)]);
        let needs = p.needs(Some("111122223333"));
        assert_eq!(needs.len(), 5);
        assert!(needs.iter().all(|n| n.account.as_deref() == Some("111122223333")));
    }

    #[test]
    fn regions_come_from_the_resource_then_its_provider_then_the_command_line() {
        let text = plan(
            &[
                rc("aws_instance.far", "aws_instance", r#"["create"]"#, "null", r#"{"instance_type": "t3.micro"}"#),
                rc("aws_vpc.v6", "aws_vpc", r#"["create"]"#, "null", r#"{"region": "eu-west-1"}"#),
                rc("aws_vpc.main", "aws_vpc", r#"["create"]"#, "null", "{}"),
            ]
            .join(","),
        );
        let p = read(&text, "plan.json", Some("ap-south-1")).expect("a plan");
        assert_eq!(demand(&p, "aws_instance.far")[0].0, "us-west-2", "the aliased provider");
        assert_eq!(demand(&p, "aws_vpc.v6")[0].0, "eu-west-1", "the resource's own region argument");
        assert_eq!(demand(&p, "aws_vpc.main")[0].0, "us-east-1", "the default provider");
        let bare = r#"{"format_version": "1.2", "resource_changes": [
            {"address": "aws_vpc.a", "type": "aws_vpc", "change": {"actions": ["create"], "before": null, "after": {}}}]}"#;
        assert_eq!(demand(&read(bare, "p", Some("ap-south-1")).expect("a plan"), "aws_vpc.a")[0].0, "ap-south-1");
        let e = read(bare, "p", None).expect_err("no region");
        assert!(e.0.contains("aws_vpc.a: the plan does not say its region; pass --region"), "{e}");
    }

    #[test]
    fn groups_take_their_instance_type_from_the_launch_template_they_reference() {
        let text = plan(
            &[
                rc(
                    "aws_launch_template.workers",
                    "aws_launch_template",
                    r#"["create"]"#,
                    "null",
                    r#"{"instance_type": "c6i.2xlarge", "name": null}"#,
                ),
                rc(
                    "aws_autoscaling_group.workers",
                    "aws_autoscaling_group",
                    r#"["create"]"#,
                    "null",
                    r#"{"desired_capacity": 4, "min_size": 2, "launch_template": [{"id": null, "name": null}]}"#,
                ),
                rc(
                    "aws_autoscaling_group.named",
                    "aws_autoscaling_group",
                    r#"["create"]"#,
                    "null",
                    r#"{"desired_capacity": null, "min_size": 2, "launch_template": [{"name": "nowhere"}]}"#,
                ),
                rc(
                    "aws_eks_node_group.gpu",
                    "aws_eks_node_group",
                    r#"["create"]"#,
                    "null",
                    r#"{"instance_types": ["g5.xlarge"], "scaling_config": [{"desired_size": 3}]}"#,
                ),
            ]
            .join(","),
        );
        let p = read(&text, "plan.json", None).expect("a plan");
        assert_eq!(demand(&p, "aws_autoscaling_group.workers"), [("us-east-1".into(), "L-1216C47A".into(), 32.0)]);
        assert_eq!(demand(&p, "aws_eks_node_group.gpu"), [("us-east-1".into(), "L-DB2E81BA".into(), 12.0)]);
        let lt = p.changes.iter().find(|c| c.resource_type == "aws_launch_template").expect("listed");
        assert!(matches!(lt.effect, Effect::NoQuota(_)), "{lt:?}");
        let missing: Vec<(&str, &str)> = p.not_assessed().map(|(c, why)| (c.address.as_str(), why)).collect();
        assert_eq!(
            missing,
            [(
                "aws_autoscaling_group.named",
                "its launch template nowhere is not in the plan, so its instance type is unknown"
            )]
        );
    }

    #[test]
    fn every_type_of_the_table_counts_against_its_quota_and_others_are_not_assessed() {
        let text = plan(
            &[
                rc("aws_eip.a", "aws_eip", r#"["create"]"#, "null", r#"{"domain": "vpc"}"#),
                rc("aws_vpc.a", "aws_vpc", r#"["create"]"#, "null", "{}"),
                rc("aws_internet_gateway.a", "aws_internet_gateway", r#"["create"]"#, "null", "{}"),
                rc("aws_nat_gateway.a", "aws_nat_gateway", r#"["create"]"#, "null", "{}"),
                rc("aws_security_group.a", "aws_security_group", r#"["delete"]"#, "{}", "null"),
                rc("aws_lb.alb", "aws_lb", r#"["create"]"#, "null", r#"{"load_balancer_type": null}"#),
                rc("aws_lb.nlb", "aws_lb", r#"["create"]"#, "null", r#"{"load_balancer_type": "network"}"#),
                rc("aws_lb.gwlb", "aws_lb", r#"["create"]"#, "null", r#"{"load_balancer_type": "gateway"}"#),
                rc("aws_db_instance.a", "aws_db_instance", r#"["create"]"#, "null", "{}"),
                rc(
                    "aws_lambda_function.a",
                    "aws_lambda_function",
                    r#"["update"]"#,
                    r#"{"reserved_concurrent_executions": -1}"#,
                    r#"{"reserved_concurrent_executions": 200}"#,
                ),
                rc("aws_ecs_cluster.a", "aws_ecs_cluster", r#"["create"]"#, "null", "{}"),
                rc("aws_eks_cluster.a", "aws_eks_cluster", r#"["create"]"#, "null", "{}"),
                rc("aws_s3_bucket.a", "aws_s3_bucket", r#"["create"]"#, "null", "{}"),
                rc(
                    "aws_instance.spot",
                    "aws_instance",
                    r#"["create"]"#,
                    "null",
                    r#"{"instance_type": "m5.large", "instance_market_options": [{"market_type": "spot"}]}"#,
                ),
                rc("aws_instance.huge", "aws_instance", r#"["create"]"#, "null", r#"{"instance_type": "m99.huge"}"#),
                rc("aws_instance.later", "aws_instance", r#"["create"]"#, "null", r#"{"instance_type": null}"#),
            ]
            .join(","),
        );
        let p = read(&text, "plan.json", None).expect("a plan");
        let code = |a: &str| demand(&p, a).into_iter().map(|(_, c, n)| (c, n)).collect::<Vec<_>>();
        assert_eq!(code("aws_eip.a"), [("L-0263D0A3".into(), 1.0)]);
        assert_eq!(code("aws_vpc.a"), [("L-F678F1CE".into(), 1.0)]);
        assert_eq!(code("aws_internet_gateway.a"), [("L-A4707A72".into(), 1.0)]);
        assert_eq!(code("aws_nat_gateway.a"), [("L-FE5A380F".into(), 1.0)]);
        assert_eq!(code("aws_security_group.a"), [("L-E79EC296".into(), -1.0)]);
        assert_eq!(code("aws_lb.alb"), [("L-53DA6B97".into(), 1.0)]);
        assert_eq!(code("aws_lb.nlb"), [("L-69A177A2".into(), 1.0)]);
        assert_eq!(code("aws_db_instance.a"), [("L-7B6409FD".into(), 1.0)]);
        assert_eq!(code("aws_lambda_function.a"), [("L-B99A9384".into(), 200.0)]);
        assert_eq!(code("aws_ecs_cluster.a"), [("L-21C621EB".into(), 1.0)]);
        assert_eq!(code("aws_eks_cluster.a"), [("L-1194D53C".into(), 1.0)]);
        let missing: Vec<&str> = p.not_assessed().map(|(c, _)| c.address.as_str()).collect();
        assert_eq!(
            missing,
            ["aws_lb.gwlb", "aws_s3_bucket.a", "aws_instance.spot", "aws_instance.huge", "aws_instance.later"]
        );
        let why: BTreeMap<&str, &str> = p.not_assessed().map(|(c, w)| (c.address.as_str(), w)).collect();
        assert_eq!(why["aws_s3_bucket.a"], "aws_s3_bucket is not in the resource table");
        assert!(
            why["aws_instance.huge"]
                .starts_with("m99.huge is not in the instance table (AWS DescribeInstanceTypes data of"),
            "{}",
            why["aws_instance.huge"]
        );
    }

    #[test]
    fn the_readme_lists_exactly_the_resource_types_the_table_knows() {
        let readme = include_str!("../../README.md");
        let section =
            readme.split("### Terraform plans").nth(1).and_then(|s| s.split("\n### ").next()).expect("section");
        let mut listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .filter(|t| t.starts_with("aws_"))
            .collect();
        listed.sort();
        let mut known = known_types();
        known.sort();
        assert_eq!(listed, known);
    }

    #[test]
    fn what_is_not_a_terraform_plan_is_refused_with_what_was_expected() {
        for (text, why) in [
            ("not json", "expected ident"),
            ("[]", "not a JSON object"),
            ("{\"needs\": []}", "no format_version"),
            ("{\"format_version\": \"1.2\"}", "no resource_changes list"),
            (r#"{"format_version": "1.2", "resource_changes": [{"address": "a"}]}"#, "has no address or type"),
        ] {
            let e = read(text, "plan.json", None).expect_err(text);
            assert!(e.0.starts_with("plan.json is not a Terraform plan in JSON ("), "{e}");
            assert!(e.0.contains(why), "{text}: {e}");
            assert!(e.0.ends_with("expected the output of terraform show -json plan.out"), "{e}");
        }
        let empty = r#"{"format_version": "1.2", "planned_values": {}}"#;
        assert_eq!(read(empty, "p", None).expect("a plan without changes").changes, []);
    }
}
