//! Response memory: a broker-wide byte budget for Fetch responses built and not yet written
//! (`idem.response.memory.bytes`).
//!
//! A Fetch copies record bytes from the segment file into memory and the frame stays there
//! until the client has read it; a client that never reads would pin it forever. So a Fetch
//! takes a [`Grant`] of bytes before it reads records, reads no more than the grant, and the
//! grant is returned when the frame has been written to the socket or dropped (connection
//! closed). Nothing that holds a grant ever waits for another one, so the budget cannot
//! deadlock; a grant is freed by its write completing or by the connection closing (a write
//! that makes no progress for `idem.response.write.timeout.ms` closes it, see `server.rs`).
//!
//! When record bytes are one day sent from the file as the socket drains (zero-copy), a
//! response holds a chunk, not the whole response: the grant then covers the chunk in memory
//! and this budget keeps its meaning.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::metrics::Metrics;

/// The broker-wide budget. Permits are bytes; tokio's semaphore is fair (first come, first
/// served), so a large waiter is not overtaken forever by small ones.
#[derive(Debug)]
pub(crate) struct ResponseMemory {
    permits: Arc<Semaphore>,
    total: usize,
    metrics: Arc<Metrics>,
}

/// Bytes taken from the budget; returned on drop.
#[derive(Debug)]
pub(crate) struct Grant {
    permits: Arc<Semaphore>,
    bytes: usize,
    metrics: Arc<Metrics>,
}

impl ResponseMemory {
    /// A budget of `total` bytes (at most `u32::MAX`, checked by the config).
    pub(crate) fn new(total: usize, metrics: Arc<Metrics>) -> ResponseMemory {
        let total = total.clamp(1, u32::MAX as usize);
        ResponseMemory {
            permits: Arc::new(Semaphore::new(total)),
            total,
            metrics,
        }
    }

    /// At least `min` and at most `max` bytes, waiting up to `wait` for `min` to be free;
    /// `None` when the wait ends first. Beyond `min`, a grant takes at most half of what is
    /// free, so that a few slow readers leave room for the others.
    pub(crate) async fn grant(&self, min: usize, max: usize, wait: Duration) -> Option<Grant> {
        let min = min.clamp(1, self.total);
        let max = max.clamp(min, self.total);
        if let Some(g) = self.try_grant(min, max) {
            return Some(g);
        }
        self.metrics.response_memory_waits.inc();
        // `min` fits in u32: the total does.
        let acquire = self.permits.acquire_many(min as u32);
        let permit = tokio::time::timeout(wait, acquire).await.ok()?.ok()?;
        permit.forget();
        let mut grant = self.granted(min);
        // Waiting was for the floor; take more if it is free now.
        if max > min {
            if let Some(more) = self.try_grant(1, max - min) {
                grant.absorb(more);
            }
        }
        Some(grant)
    }

    /// Takes between `min` and `max` bytes now, if `min` is free.
    fn try_grant(&self, min: usize, max: usize) -> Option<Grant> {
        loop {
            let free = self.permits.available_permits();
            if free < min {
                return None;
            }
            let n = max.min((free / 2).max(min));
            match self.permits.try_acquire_many(n as u32) {
                Ok(p) => {
                    p.forget();
                    return Some(self.granted(n));
                }
                // Someone took bytes between the look and the take: look again.
                Err(tokio::sync::TryAcquireError::NoPermits) => continue,
                Err(tokio::sync::TryAcquireError::Closed) => return None,
            }
        }
    }

    fn granted(&self, bytes: usize) -> Grant {
        self.metrics.response_bytes_held.add(bytes as u64);
        Grant {
            permits: Arc::clone(&self.permits),
            bytes,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

impl Grant {
    /// The bytes granted.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns what is beyond `keep` to the budget.
    pub(crate) fn shrink(&mut self, keep: usize) {
        if keep < self.bytes {
            let freed = self.bytes - keep;
            self.bytes = keep;
            self.release(freed);
        }
    }

    fn absorb(&mut self, mut other: Grant) {
        self.bytes += other.bytes;
        other.bytes = 0;
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.metrics.response_bytes_held.sub(n as u64);
            self.permits.add_permits(n);
        }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grants_stay_within_the_budget_and_come_back() {
        let metrics = Arc::new(Metrics::default());
        let memory = ResponseMemory::new(100, Arc::clone(&metrics));
        let wait = Duration::from_millis(20);
        let a = memory.grant(10, 80, wait).await.expect("a");
        // Half of what is free, at most what was asked.
        assert_eq!(a.bytes(), 50);
        let b = memory.grant(10, 80, wait).await.expect("b");
        assert_eq!(b.bytes(), 25);
        let mut c = memory.grant(20, 20, wait).await.expect("c");
        assert_eq!(c.bytes(), 20);
        assert_eq!(metrics.response_bytes_held.get(), 95);
        // 5 free: a floor of 10 waits, then gives up.
        assert!(memory.grant(10, 10, wait).await.is_none());
        c.shrink(4);
        assert_eq!(metrics.response_bytes_held.get(), 79);
        let d = memory
            .grant(10, 10, wait)
            .await
            .expect("d after the shrink");
        drop((a, b, c, d));
        assert_eq!(metrics.response_bytes_held.get(), 0);
        assert_eq!(metrics.response_bytes_held.peak(), 95);
        assert_eq!(memory.permits.available_permits(), 100);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_bytes_freed_by_a_drop() {
        let metrics = Arc::new(Metrics::default());
        let memory = Arc::new(ResponseMemory::new(10, Arc::clone(&metrics)));
        let all = memory.grant(10, 10, Duration::ZERO).await.expect("all");
        let waiter = {
            let memory = Arc::clone(&memory);
            tokio::spawn(async move { memory.grant(8, 10, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(all);
        let got = waiter.await.expect("join").expect("granted");
        assert!(got.bytes() >= 8);
        assert_eq!(metrics.response_memory_waits.get(), 1);
    }
}
