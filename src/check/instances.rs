//! EC2 instance types: their vCPUs (a table generated from AWS's published data, see
//! `data/ec2-instance-vcpus.csv` for its source and date) and the On-Demand vCPU quota
//! of their family.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The generated table: `instance_type,vcpus` lines under `#` comments.
const TABLE: &str = include_str!("../../data/ec2-instance-vcpus.csv");

static VCPUS: LazyLock<HashMap<&'static str, u32>> = LazyLock::new(|| parse(TABLE));

fn parse(text: &'static str) -> HashMap<&'static str, u32> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (t, v) = l.split_once(',')?;
            Some((t.trim(), v.trim().parse().ok()?))
        })
        .filter(|(t, _)| *t != "instance_type")
        .collect()
}

/// Where the table came from and the date of its data, for messages.
pub fn provenance() -> String {
    let after = |key: &str| {
        TABLE.lines().find_map(|l| l.trim_start_matches('#').trim().strip_prefix(key)).map(str::trim).unwrap_or("?")
    };
    format!(
        "AWS DescribeInstanceTypes data of {} via {}",
        after("data generated (StaticListLastUpdateTime):"),
        after("Source:")
    )
}

/// How many instance types the table knows.
pub fn known() -> usize {
    VCPUS.len()
}

/// The default vCPUs of an instance type, if the table has it.
pub fn vcpus(instance_type: &str) -> Option<u32> {
    VCPUS.get(instance_type).copied()
}

/// An EC2 On-Demand vCPU quota: its code and the family it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub quota_code: &'static str,
    pub name: &'static str,
}

const fn family(quota_code: &'static str, name: &'static str) -> Family {
    Family { quota_code, name }
}

pub const STANDARD: Family = family("L-1216C47A", "Standard (A, C, D, H, I, M, R, T, Z)");
pub const G_AND_VT: Family = family("L-DB2E81BA", "G and VT");
pub const P: Family = family("L-417A185B", "P");
pub const X: Family = family("L-7295265B", "X");
pub const F: Family = family("L-74FC7D96", "F");
pub const INF: Family = family("L-1945791B", "Inf");
pub const TRN: Family = family("L-2C3B7624", "Trn");
pub const DL: Family = family("L-6E869C2A", "DL");
pub const HPC: Family = family("L-F7808C92", "HPC");
pub const HIGH_MEMORY: Family = family("L-43DA4232", "High Memory");

/// Every family's quota.
pub const FAMILIES: [Family; 10] = [STANDARD, G_AND_VT, P, X, F, INF, TRN, DL, HPC, HIGH_MEMORY];

/// The On-Demand vCPU quota an instance type counts against, or why it has none.
pub fn family_of(instance_type: &str) -> Result<Family, String> {
    let class = instance_type.split('.').next().unwrap_or_default();
    let starts = |p: &str| class.starts_with(p);
    // Longer prefixes first: "dl" is not "d", "inf" is not "i", "trn" is not "t".
    let family = if starts("mac") {
        return Err(format!("{instance_type} runs on a Dedicated Host, which the vCPU quotas do not count"));
    } else if starts("u-") || (starts("u") && class[1..].starts_with(|c: char| c.is_ascii_digit())) {
        HIGH_MEMORY
    } else if starts("dl") {
        DL
    } else if starts("trn") {
        TRN
    } else if starts("inf") {
        INF
    } else if starts("hpc") {
        HPC
    } else if starts("vt") || starts("g") {
        G_AND_VT
    } else if starts("p") {
        P
    } else if starts("x") {
        X
    } else if starts("f") {
        F
    } else if class.starts_with(['a', 'c', 'd', 'h', 'i', 'm', 'r', 't', 'z']) {
        STANDARD
    } else {
        return Err(format!("{instance_type} belongs to no instance family the vCPU quotas know"));
    };
    Ok(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_table_has_the_published_vcpus_of_every_family() {
        assert!(known() > 500, "{} types", known());
        for (t, v) in [
            ("t3.micro", 2),
            ("m5.2xlarge", 8),
            ("c6i.2xlarge", 8),
            ("g5.2xlarge", 8),
            ("p4d.24xlarge", 96),
            ("inf2.48xlarge", 192),
            ("trn1.32xlarge", 128),
            ("x2iedn.32xlarge", 128),
            ("dl1.24xlarge", 96),
            ("vt1.24xlarge", 96),
            ("f1.16xlarge", 64),
            ("hpc7g.16xlarge", 64),
        ] {
            assert_eq!(vcpus(t), Some(v), "{t}");
        }
        assert_eq!(vcpus("m5.huge"), None);
        assert!(provenance().starts_with("AWS DescribeInstanceTypes data of 20"), "{}", provenance());
    }

    #[test]
    fn each_instance_type_counts_against_its_family_quota() {
        for (t, f) in [
            ("m5.2xlarge", STANDARD),
            ("t3.micro", STANDARD),
            ("z1d.large", STANDARD),
            ("i4i.large", STANDARD),
            ("d3.xlarge", STANDARD),
            ("hpc7g.16xlarge", HPC),
            ("h1.2xlarge", STANDARD),
            ("g5.2xlarge", G_AND_VT),
            ("vt1.3xlarge", G_AND_VT),
            ("p5.48xlarge", P),
            ("x2iedn.32xlarge", X),
            ("f1.2xlarge", F),
            ("inf2.xlarge", INF),
            ("im4gn.large", STANDARD),
            ("trn1.2xlarge", TRN),
            ("dl1.24xlarge", DL),
            ("u-6tb1.56xlarge", HIGH_MEMORY),
            ("u7i-12tb.224xlarge", HIGH_MEMORY),
        ] {
            assert_eq!(family_of(t), Ok(f), "{t}");
        }
        assert!(family_of("mac2.metal").expect_err("no vCPU quota").contains("Dedicated Host"));
        assert!(family_of("q9.large").is_err());
    }
}
