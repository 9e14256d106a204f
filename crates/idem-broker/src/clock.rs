//! The broker's clock, below every module that needs the time (the broker, the group
//! coordinator's edge, the server's timers), so none of them imports another for it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, by the broker's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
