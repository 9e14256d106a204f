//! Shared helpers: brokers on 127.0.0.1:0 come from `idem-test-support`; what only these
//! tests need lives here.

pub use idem_test_support::{config, start, start_with};

/// This process's resident set size (`VmRSS` in /proc/self/status), in bytes; None where
/// /proc is not available.
pub fn vm_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
