//! Kafka's timers as deadlines: session timeouts, members that never came back after
//! MEMBER_ID_REQUIRED, the join phase (initial delay, rebalance timeout), pending syncs.

use super::*;

impl Coordinator {
    /// Fires every timer due at `now`: session timeouts, pending-member timeouts, the join
    /// phase (initial delay, rebalance timeout) and pending syncs.
    pub fn tick(&mut self, now: i64) -> Outcome {
        let mut out = Outcome::default();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            self.tick_group(now, &id, &mut out);
        }
        out
    }

    /// Whether any timer is due at `now` (cheap enough to call after every request).
    pub fn has_due_timer(&self, now: i64) -> bool {
        self.groups.values().any(|g| {
            g.join_timer.is_some_and(|t| t.deadline() <= now)
                || g.sync_timer.is_some_and(|(d, _)| d <= now)
                || g.pending_members.values().any(|d| *d <= now)
                || g.members.values().any(|m| m.heartbeat_deadline <= now)
        })
    }

    fn tick_group(&mut self, now: i64, id: &str, out: &mut Outcome) {
        // Session timeouts.
        let expired: Vec<String> = match self.groups.get_mut(id) {
            Some(g) => {
                let mut expired = Vec::new();
                for m in g.members.values_mut() {
                    if m.heartbeat_deadline <= now {
                        if m.has_satisfied_heartbeat() {
                            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                        } else {
                            expired.push(m.id.clone());
                        }
                    }
                }
                expired
            }
            None => return,
        };
        for member_id in expired {
            let Some(g) = self.groups.get_mut(id) else {
                return;
            };
            remove_current_member(g, &member_id, out);
            match g.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now, id, out);
                }
                GroupState::PreparingRebalance if g.has_all_members_joined() => {
                    self.complete_join(now, id, out);
                }
                _ => {}
            }
        }
        // Members that never came back after MEMBER_ID_REQUIRED.
        if let Some(g) = self.groups.get_mut(id) {
            let before = g.pending_members.len();
            g.pending_members.retain(|_, d| *d > now);
            if g.pending_members.len() != before
                && g.state == GroupState::PreparingRebalance
                && g.has_all_members_joined()
            {
                self.complete_join(now, id, out);
            }
        }
        // The join phase.
        let due = self
            .groups
            .get(id)
            .and_then(|g| g.join_timer)
            .filter(|t| t.deadline() <= now);
        match due {
            Some(JoinTimer::Initial {
                delay, remaining, ..
            }) => {
                let initial_delay = self.config.initial_rebalance_delay_ms;
                if let Some(g) = self.groups.get_mut(id) {
                    if g.new_member_added && remaining != 0 {
                        g.new_member_added = false;
                        let new_delay = initial_delay.min(remaining);
                        g.join_timer = Some(JoinTimer::Initial {
                            deadline: now + i64::from(new_delay),
                            delay: new_delay,
                            remaining: (remaining - delay).max(0),
                        });
                    } else {
                        self.complete_join(now, id, out);
                    }
                }
            }
            Some(JoinTimer::Rebalance { .. }) => self.complete_join(now, id, out),
            None => {}
        }
        // Members that never sent SyncGroup.
        let sync_due = self
            .groups
            .get(id)
            .and_then(|g| g.sync_timer)
            .filter(|(d, _)| *d <= now);
        if let Some((_, generation)) = sync_due {
            if let Some(g) = self.groups.get_mut(id) {
                g.sync_timer = None;
                if generation == g.generation
                    && matches!(
                        g.state,
                        GroupState::CompletingRebalance | GroupState::Stable
                    )
                    && !g.pending_sync.is_empty()
                {
                    let missing: Vec<String> = g.pending_sync.iter().cloned().collect();
                    for m in missing {
                        g.remove(&m);
                    }
                    self.prepare_rebalance(now, id, out);
                }
            }
        }
    }
}
