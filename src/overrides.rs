//! Alert thresholds and mutes as data: the overrides file (`QUOTA_EXPORTER_ALERT_OVERRIDES`).
//!
//! Prometheus cannot override a rule per series, so the exporter publishes the
//! per-quota values (`aws_quota_alert_threshold`, `aws_quota_alert_muted`) for the
//! quotas that differ from the shipped defaults, and the shipped rules join them.
//!
//! Each entry selects quotas by account, region, service code, quota code and resource
//! (exact values or globs with `*` and `?`; a selector left out matches anything) and
//! sets any of the three tiers (percent of the limit) or mutes the quotas until a time,
//! with a reason. Per tier, and for the mute, the most specific entry that sets it wins:
//! an exact selector counts 2, a glob 1, a missing one 0; on a tie the later entry wins.
//! The file is read again when it changes or on SIGHUP; a bad edit keeps the last good
//! file and says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// The tiers, as the rules' `severity` label names them, and their shipped defaults in
/// percent (the rules' `threshold:aws_quota_utilization:ratio`).
pub const TIERS: [(&str, f64); 3] = [("info", 70.0), ("warning", 80.0), ("critical", 90.0)];

/// Why an overrides file cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OverridesError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    overrides: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    account: Option<String>,
    region: Option<String>,
    service: Option<String>,
    quota: Option<String>,
    resource: Option<String>,
    info: Option<f64>,
    warning: Option<f64>,
    critical: Option<f64>,
    mute_until: Option<String>,
    reason: Option<String>,
}

/// One selector: exact, or a glob.
#[derive(Debug, Clone, PartialEq)]
struct Selector(Option<String>);

impl Selector {
    fn is_glob(&self) -> bool {
        self.0.as_deref().is_some_and(|p| p.contains(['*', '?']))
    }

    fn weight(&self) -> u32 {
        match &self.0 {
            None => 0,
            Some(_) if self.is_glob() => 1,
            Some(_) => 2,
        }
    }

    fn matches(&self, value: &str) -> bool {
        self.0.as_deref().is_none_or(|p| glob(p.as_bytes(), value.as_bytes()))
    }
}

/// `*` any run of characters, `?` one character, everything else itself.
fn glob(p: &[u8], v: &[u8]) -> bool {
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// What an entry selects a quota by: account, region, service, quota, resource (empty
/// for the account-level quota).
pub fn identity<'a>(t: &'a crate::snapshot::TargetSnapshot, q: &'a crate::model::Quota) -> [&'a str; 5] {
    [t.account_label(), t.target.region.as_str(), &q.service_code, q.code.as_str(), q.resource.as_deref().unwrap_or("")]
}

/// One entry of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its line in the file, for messages.
    pub line: usize,
    selectors: [Selector; 5],
    /// info, warning, critical, as ratios of the limit.
    tiers: [Option<f64>; 3],
    mute: Option<(f64, String)>,
}

impl Entry {
    fn specificity(&self) -> u32 {
        self.selectors.iter().map(Selector::weight).sum()
    }

    /// Whether the entry selects a quota: account, region, service, quota, resource
    /// (empty for the account-level quota).
    pub fn selects(&self, identity: [&str; 5]) -> bool {
        self.selectors.iter().zip(identity).all(|(s, v)| s.matches(v))
    }
}

/// A quota's effective overrides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effective {
    /// Per tier (info, warning, critical), the overriding ratio, if an entry sets one.
    pub tiers: [Option<f64>; 3],
    /// Muted until (epoch seconds), and why.
    pub mute: Option<(f64, String)>,
}

impl Effective {
    pub fn is_default(&self) -> bool {
        self.tiers.iter().all(Option::is_none) && self.mute.is_none()
    }

    /// The three tiers in percent, the shipped defaults where nothing overrides them.
    pub fn percents(&self) -> [f64; 3] {
        let mut out = [0.0; 3];
        for (i, (_, default)) in TIERS.iter().enumerate() {
            out[i] = self.tiers[i].map_or(*default, |r| r * 100.0);
        }
        out
    }
}

/// A parsed overrides file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overrides {
    pub entries: Vec<Entry>,
}

/// The form of the file, for messages.
pub const FORM: &str = "a YAML file with `overrides:`, a list of entries selecting quotas by account, region, \
     service, quota and resource (exact or glob) and setting info, warning and critical (percent of the limit, \
     above 0 and at most 100, in that order) or mute_until (a date, or a UTC time such as 2027-03-01T12:00:00Z) with a reason";

impl Overrides {
    /// Parses a file. `now` (epoch seconds) refuses mutes that have already ended,
    /// except those `previous` had already (an old mute that ran out is harmless).
    pub fn parse(text: &str, name: &str, now: f64, previous: Option<&Overrides>) -> Result<Overrides, OverridesError> {
        Self::parse_with(text, name, now, Some(previous))
    }

    /// As [`Overrides::parse`]; `past` of `None` accepts mutes that have ended (at
    /// start-up, where a restart must not fail on a date: they are inert and logged).
    fn parse_with(
        text: &str,
        name: &str,
        now: f64,
        past: Option<Option<&Overrides>>,
    ) -> Result<Overrides, OverridesError> {
        let bad = |what: String| OverridesError(format!("{name}: {what}"));
        let file: File = serde_yaml::from_str(text).map_err(|e| bad(format!("{e}; expected {FORM}")))?;
        let lines = entry_lines(text);
        let mut entries = Vec::with_capacity(file.overrides.len());
        for (i, raw) in file.overrides.into_iter().enumerate() {
            let line = lines.get(i).copied().unwrap_or(0);
            let at = |what: String| bad(format!("line {line}: {what}"));
            let set = [raw.info, raw.warning, raw.critical];
            let mut tiers = [None; 3];
            for (k, v) in set.iter().enumerate() {
                if let Some(p) = v {
                    if !(p.is_finite() && *p > 0.0 && *p <= 100.0) {
                        return Err(at(format!("{} {p} is not a percent above 0 and at most 100", TIERS[k].0)));
                    }
                    tiers[k] = Some(p / 100.0);
                }
            }
            let given: Vec<(&str, f64)> =
                set.iter().zip(TIERS).filter_map(|(v, (name, _))| Some((name, (*v)?))).collect();
            if let Some(w) = given.windows(2).find(|w| w[0].1 >= w[1].1) {
                return Err(at(format!(
                    "the tiers are out of order: {} {} is not below {} {}",
                    w[0].0, w[0].1, w[1].0, w[1].1
                )));
            }
            let mute = match (raw.mute_until, raw.reason) {
                (None, None) => None,
                (None, Some(_)) => return Err(at("a reason without mute_until".into())),
                (Some(_), None) => return Err(at("mute_until needs a reason: say why the quota is muted".into())),
                (Some(until), Some(reason)) => {
                    let t = parse_time(&until).ok_or_else(|| {
                        at(format!(
                            "mute_until {until:?} is not a date (2027-03-01) or a UTC time (2027-03-01T12:00:00Z)"
                        ))
                    })?;
                    Some((t, reason))
                }
            };
            let selectors = [raw.account, raw.region, raw.service, raw.quota, raw.resource].map(Selector);
            if selectors.iter().all(|s| s.0.is_none()) {
                return Err(at("selects nothing: name at least one of account, region, service, quota".into()));
            }
            if tiers.iter().all(Option::is_none) && mute.is_none() {
                return Err(at("sets nothing: give info, warning or critical, or mute_until with a reason".into()));
            }
            let entry = Entry { line, selectors, tiers, mute };
            if let Some((until, _)) = &entry.mute
                && *until <= now
            {
                match past {
                    None => tracing::warn!(
                        file = name,
                        line,
                        "an alert overrides mute ended at {}; it mutes nothing (remove the entry)",
                        crate::clock::utc_time(*until)
                    ),
                    Some(previous) => {
                        let known = previous.is_some_and(|p| {
                            p.entries.iter().any(|e| e.selectors == entry.selectors && e.mute == entry.mute)
                        });
                        if !known {
                            return Err(at(format!(
                                "mute_until {} has already passed",
                                crate::clock::utc_time(*until)
                            )));
                        }
                    }
                }
            }
            entries.push(entry);
        }
        Ok(Overrides { entries })
    }

    /// How many quotas of the snapshot each entry selects, in file order.
    pub fn selections(&self, snapshot: &crate::snapshot::Snapshot) -> Vec<usize> {
        let mut counts = vec![0usize; self.entries.len()];
        for t in &snapshot.targets {
            for q in t.quotas.quotas() {
                let id = identity(t, q);
                for (n, e) in counts.iter_mut().zip(&self.entries) {
                    if e.selects(id) {
                        *n += 1;
                    }
                }
            }
        }
        counts
    }

    /// What applies to a quota: per tier and for the mute, the most specific entry
    /// that sets it (the later one on a tie). A mute that has ended is no mute.
    pub fn effective(&self, identity: [&str; 5], now: f64) -> Effective {
        let mut out = Effective::default();
        let mut best = [None::<u32>; 4];
        for e in self.entries.iter().filter(|e| e.selects(identity)) {
            let s = e.specificity();
            for ((tier, best), set) in out.tiers.iter_mut().zip(best.iter_mut()).zip(e.tiers) {
                if let Some(v) = set
                    && best.is_none_or(|b| s >= b)
                {
                    *tier = Some(v);
                    *best = Some(s);
                }
            }
            if let Some(m) = &e.mute
                && best[3].is_none_or(|b| s >= b)
            {
                out.mute = Some(m.clone());
                best[3] = Some(s);
            }
        }
        if out.mute.as_ref().is_some_and(|(until, _)| *until <= now) {
            out.mute = None;
        }
        out
    }
}

/// The line of each item of the top-level `overrides:` list.
fn entry_lines(text: &str) -> Vec<usize> {
    let mut indent = None;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let trimmed = l.trim_start();
        if !trimmed.starts_with("- ") && trimmed != "-" {
            continue;
        }
        let this = l.len() - trimmed.len();
        if *indent.get_or_insert(this) == this {
            out.push(i + 1);
        }
    }
    out
}

/// `2027-03-01` (midnight UTC) or `2027-03-01T12:00:00Z`.
fn parse_time(s: &str) -> Option<f64> {
    let (date, clock) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut d = date.split('-').map(|p| p.parse::<i32>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let (h, m, sec) = match clock {
        None => (0, 0, 0),
        Some(c) => {
            let mut t = c.split(':').map(|p| p.parse::<u8>().ok());
            let hms = (t.next()??, t.next()??, t.next()??);
            if t.next().is_some() {
                return None;
            }
            hms
        }
    };
    let at = date.with_hms(h, m, sec).ok()?.assume_utc();
    Some(at.unix_timestamp() as f64)
}

/// The overrides in use, replaced on a good reload.
pub struct Live {
    pub path: PathBuf,
    current: RwLock<Arc<Overrides>>,
    /// The last reload's error, if it failed (the last good file stays in use).
    error: RwLock<Option<String>>,
    /// When a file was last loaded successfully (epoch seconds).
    loaded_at: RwLock<f64>,
    /// What the file looked like when last read: length and modification time.
    seen: RwLock<Option<(u64, std::time::SystemTime)>>,
    clock: Arc<dyn crate::clock::Clock>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Live {
    /// Reads the file at start-up: an error refuses to start.
    pub fn load(path: &Path, clock: Arc<dyn crate::clock::Clock>) -> Result<Live, OverridesError> {
        let now = clock.now();
        let (text, seen) = read(path)?;
        let parsed = Overrides::parse_with(&text, &path.display().to_string(), now, None)?;
        Ok(Live {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(parsed)),
            error: RwLock::new(None),
            loaded_at: RwLock::new(now),
            seen: RwLock::new(seen),
            clock,
        })
    }

    /// The time mutes are judged at.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    pub fn current(&self) -> Arc<Overrides> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last reload's error, while the last good file stays in use.
    pub fn error(&self) -> Option<String> {
        self.error.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn loaded_at(&self) -> f64 {
        *self.loaded_at.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the file changed since it was last read.
    pub fn changed(&self) -> bool {
        let now = std::fs::metadata(&self.path).ok().map(|m| (m.len(), m.modified().ok()));
        let seen = *self.seen.read().unwrap_or_else(|p| p.into_inner());
        match (now, seen) {
            (Some((len, Some(modified))), Some(s)) => (len, modified) != s,
            (Some(_), _) => true,
            (None, _) => self.error().is_none(),
        }
    }

    /// Reads the file again. A good file replaces the current one; a bad one is
    /// reported and the last good one stays. True when something changed in what is
    /// published.
    pub fn reload(&self) -> bool {
        let now = self.now();
        let previous = self.current();
        let result = read(&self.path).and_then(|(text, seen)| {
            *self.seen.write().unwrap_or_else(|p| p.into_inner()) = seen;
            Overrides::parse(&text, &self.path.display().to_string(), now, Some(&previous))
        });
        match result {
            Ok(parsed) => {
                let changed = *previous != parsed;
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(parsed);
                *self.error.write().unwrap_or_else(|p| p.into_inner()) = None;
                *self.loaded_at.write().unwrap_or_else(|p| p.into_inner()) = now;
                tracing::info!(path = %self.path.display(), "alert overrides reloaded");
                changed
            }
            Err(e) => {
                let mut error = self.error.write().unwrap_or_else(|p| p.into_inner());
                if error.as_deref() != Some(&e.0) {
                    tracing::warn!(error = %e, "the alert overrides file is not valid; the last good one stays in use");
                }
                let was_ok = error.is_none();
                *error = Some(e.0);
                was_ok
            }
        }
    }
}

fn read(path: &Path) -> Result<(String, Option<(u64, std::time::SystemTime)>), OverridesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OverridesError(format!("cannot read the alert overrides file {}: {e}", path.display())))?;
    let seen = std::fs::metadata(path).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
    Ok((text, seen))
}

/// Reads the file again whenever it changes (checked every two seconds) or on SIGHUP;
/// `on_change` announces a change in what is published. Once a minute, with the
/// collection complete, an entry that selects no quota is logged once, by its line.
pub async fn watch(live: Arc<Live>, store: Arc<crate::snapshot::Store>, on_change: impl Fn()) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut reported: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    let mut ticks: u32 = 0;
    loop {
        let sighup = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let forced = tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => false,
            _ = sighup => true,
        };
        if (forced || live.changed()) && live.reload() {
            reported.clear();
            on_change();
        }
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(30) && store.is_complete() {
            let current = live.current();
            let counts = current.selections(&store.snapshot());
            for (e, n) in current.entries.iter().zip(counts) {
                if n == 0 && reported.insert(e.line) {
                    tracing::warn!(
                        path = %live.path.display(),
                        line = e.line,
                        "an alert overrides entry selects no quota the exporter collects (a mistyped code, or a glob \
                         that matches nothing)"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    fn parse(text: &str) -> Result<Overrides, OverridesError> {
        Overrides::parse(text, "overrides.yaml", NOW, None)
    }

    fn id<'a>(account: &'a str, region: &'a str, service: &'a str, quota: &'a str) -> [&'a str; 5] {
        [account, region, service, quota, ""]
    }

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob(b"7777*", b"777788889999"));
        assert!(glob(b"us-*-1", b"us-east-1"));
        assert!(glob(b"L-????C47A", b"L-1216C47A"));
        assert!(!glob(b"us-*-1", b"us-east-2"));
        assert!(glob(b"*", b""));
    }

    #[test]
    fn the_most_specific_entry_wins_per_tier_and_a_tie_goes_to_the_later_one() {
        let o = parse(
            "overrides:\n\
             - service: lambda\n  critical: 95\n\
             - account: \"1111*\"\n  service: lambda\n  info: 50\n  warning: 60\n  critical: 70\n\
             - account: \"111122223333\"\n  service: lambda\n  quota: L-B99A9384\n  critical: 75\n\
             - service: lambda\n  critical: 96\n",
        )
        .expect("valid");
        let e = o.effective(id("111122223333", "us-east-1", "lambda", "L-B99A9384"), NOW);
        assert_eq!(
            e.tiers,
            [Some(0.5), Some(0.6), Some(0.75)],
            "critical from the exact entry, the rest from the glob"
        );
        assert_eq!(e.percents(), [50.0, 60.0, 75.0]);
        let other = o.effective(id("444455556666", "us-east-1", "lambda", "L-X"), NOW);
        assert_eq!(other.tiers, [None, None, Some(0.96)], "a tie: the later entry");
        assert!(o.effective(id("444455556666", "us-east-1", "ec2", "L-X"), NOW).is_default());
    }

    #[test]
    fn a_mute_holds_until_its_time_and_then_ends() {
        let o = parse(
            "overrides:\n  - account: \"7777*\"\n    service: ec2\n    quota: L-0263D0A3\n    mute_until: 2027-03-01\n    reason: sandbox EIPs\n",
        )
        .expect("valid");
        let until = 1_803_859_200.0; // 2027-03-01T00:00:00Z
        let quota = id("777788889999", "eu-west-1", "ec2", "L-0263D0A3");
        assert_eq!(o.effective(quota, NOW).mute, Some((until, "sandbox EIPs".into())));
        assert_eq!(o.effective(quota, until).mute, None, "over at its time");
        // Once it has ended, a reload of the same file keeps working; a new past mute does not.
        assert!(Overrides::parse("overrides:\n  - account: \"7777*\"\n    service: ec2\n    quota: L-0263D0A3\n    mute_until: 2027-03-01\n    reason: sandbox EIPs\n", "f", until + 1.0, Some(&o)).is_ok());
        let e = Overrides::parse(
            "overrides:\n  - service: ec2\n    mute_until: 2020-01-01\n    reason: old\n",
            "f",
            NOW,
            Some(&o),
        )
        .expect_err("in the past");
        assert_eq!(e.0, "f: line 2: mute_until 2020-01-01 00:00:00 has already passed");
        // At start-up an ended mute is accepted and inert: a restart never fails on a date.
        let started = Overrides::parse_with(
            "overrides:\n  - service: ec2\n    mute_until: 2020-01-01\n    reason: old\n",
            "f",
            NOW,
            None,
        )
        .expect("accepted at start-up");
        assert_eq!(started.effective(id("1", "r", "ec2", "L-1"), NOW).mute, None);
    }

    #[test]
    fn mute_times_are_dates_or_utc_times() {
        assert_eq!(parse_time("2027-03-01"), Some(1_803_859_200.0));
        assert_eq!(parse_time("2027-03-01T12:30:00Z"), Some(1_803_859_200.0 + 45_000.0));
        for bad in ["2027-13-01", "2027-03", "soon", "2027-03-01T12:30Z", "2027-03-01T12:30:00+01:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_entries_name_their_line() {
        let e = |text: &str| parse(text).expect_err("refused").0;
        assert!(e("overrides:\n  - service: ec2\n    colour: red\n").contains("unknown field `colour`"));
        assert!(e("overrides:\n  - service: ec2\n    colour: red\n").contains("line 3"));
        assert_eq!(
            e("overrides:\n  - service: ec2\n    critical: 95\n  - service: s3\n    critical: 120\n"),
            "overrides.yaml: line 4: critical 120 is not a percent above 0 and at most 100"
        );
        assert_eq!(
            e("overrides:\n  - service: ec2\n    info: 85\n    warning: 80\n"),
            "overrides.yaml: line 2: the tiers are out of order: info 85 is not below warning 80"
        );
        assert!(
            e("overrides:\n  - service: ec2\n    mute_until: 2027-03-01\n")
                .contains("line 2: mute_until needs a reason")
        );
        assert!(
            e("overrides:\n  - warning: 60\n").contains("line 2: selects nothing"),
            "{}",
            e("overrides:\n  - warning: 60\n")
        );
        assert!(e("overrides:\n  - service: ec2\n").contains("line 2: sets nothing"));
        assert!(e("overrides:\n  - service: ec2\n    mute_until: soon\n    reason: x\n").contains("is not a date"));
    }
}
