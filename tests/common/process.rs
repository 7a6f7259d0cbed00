//! What the benchmarks read about their own process: AWS calls counted by the
//! exporter, CPU time and resident memory from /proc, and sizes in MB.

#![allow(dead_code)]

use aws_quota_exporter::startup;

/// Every AWS call attempt the exporter counted, whatever the outcome.
pub fn api_calls(handle: &startup::AppHandle) -> u64 {
    handle.metrics.api_calls.total()
}

/// Bytes in decimal megabytes.
pub fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// User plus system CPU time of this process so far, from /proc/self/stat.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    // USER_HZ is 100 on every Linux the exporter targets.
    ticks as f64 / 100.0
}

/// Resets the kernel's peak-RSS mark (VmHWM) so each phase is measured alone.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A field of /proc/self/status in KiB (VmRSS, VmHWM).
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}
