//! Committed offsets and the admin APIs: OffsetCommit (Kafka's generation and member checks),
//! OffsetFetch, OffsetDelete, ListGroups, DescribeGroups, DeleteGroups, and offset retention.

use bytes::Bytes;

use super::*;

impl Coordinator {
    // ---- offsets -----------------------------------------------------------------------

    /// OffsetCommit: one error code per offset (in request order).
    pub fn commit_offsets(&mut self, now: i64, req: OffsetCommitRequest) -> (Vec<i16>, Outcome) {
        let mut out = Outcome::default();
        let n = req.offsets.len();
        if req.group_id.is_empty() {
            return (vec![INVALID_GROUP_ID; n], out);
        }
        if !self.groups.contains_key(&req.group_id) {
            if req.generation_id >= 0 {
                return (vec![ILLEGAL_GENERATION; n], out);
            }
            self.groups
                .insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return (vec![UNKNOWN_SERVER_ERROR; n], out);
        };
        if let Err(code) = validate_offset_commit(g, &req) {
            return (vec![code; n], out);
        }
        let expire =
            (req.retention_time_ms != -1).then(|| now.saturating_add(req.retention_time_ms));
        let mut codes = Vec::with_capacity(n);
        for (topic, partition, offset, leader_epoch, metadata) in req.offsets {
            let metadata = metadata.unwrap_or_default();
            if metadata.len() > self.config.offset_metadata_max_bytes {
                codes.push(OFFSET_METADATA_TOO_LARGE);
                continue;
            }
            g.offsets.insert(
                (topic.clone(), partition),
                Committed {
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp: now,
                    expire_timestamp: expire,
                },
            );
            out.records.push(g.offset_record(&topic, partition));
            codes.push(NONE);
        }
        (codes, out)
    }

    /// OffsetFetch for some partitions (`Some`) or all (`None`): a group-level error, or
    /// (topic, partition, committed) triples; unknown partitions get `None`.
    #[allow(clippy::type_complexity)]
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<(String, i32, Option<Committed>)>, i16> {
        let group = self.groups.get(group_id);
        if group.is_some_and(|g| g.state == GroupState::Dead) {
            return Err(GROUP_ID_NOT_FOUND);
        }
        Ok(match partitions {
            Some(list) => list
                .iter()
                .flat_map(|(topic, parts)| {
                    parts.iter().map(move |p| {
                        let c = group.and_then(|g| g.offsets.get(&(topic.clone(), *p)).cloned());
                        (topic.clone(), *p, c)
                    })
                })
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), c)| (t.clone(), *p, Some(c.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// OffsetDelete: a group-level error, or one error per (topic, partition).
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> (Result<Vec<i16>, i16>, Outcome) {
        let mut out = Outcome::default();
        let Some(g) = self.groups.get_mut(group_id) else {
            return (Err(GROUP_ID_NOT_FOUND), out);
        };
        match g.state {
            GroupState::Dead => return (Err(GROUP_ID_NOT_FOUND), out),
            GroupState::Empty => {}
            _ if g.protocol_type.as_deref() != Some("consumer") => {
                return (Err(NON_EMPTY_GROUP), out)
            }
            _ => {}
        }
        let mut codes = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            if g.is_subscribed_to(topic) {
                codes.push(GROUP_SUBSCRIBED_TO_TOPIC);
                continue;
            }
            if g.offsets.remove(&(topic.clone(), *partition)).is_some() {
                out.records.push(g.offset_record(topic, *partition));
            }
            codes.push(NONE);
        }
        (Ok(codes), out)
    }

    // ---- admin -------------------------------------------------------------------------

    /// ListGroups.
    pub fn list(&self) -> Vec<ListedGroup> {
        self.groups
            .values()
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    /// DescribeGroups for one group; `None` if unknown.
    pub fn describe(&self, group_id: &str) -> Option<DescribedGroup> {
        let g = self.groups.get(group_id)?;
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.as_deref();
        Some(DescribedGroup {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                g.protocol_name.clone().unwrap_or_default()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// DeleteGroups for one group: its error code.
    pub fn delete_group(&mut self, group_id: &str, out: &mut Outcome) -> DeleteGroupResult {
        if group_id.is_empty() {
            return INVALID_GROUP_ID;
        }
        let Some(g) = self.groups.get(group_id) else {
            return GROUP_ID_NOT_FOUND;
        };
        match g.state {
            GroupState::Dead => return GROUP_ID_NOT_FOUND,
            GroupState::Stable
            | GroupState::PreparingRebalance
            | GroupState::CompletingRebalance => return NON_EMPTY_GROUP,
            GroupState::Empty => {}
        }
        for (topic, partition) in g.offsets.keys() {
            out.records.push(Record::Offset {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
                value: None,
            });
        }
        out.records.push(Record::Group {
            group: group_id.to_string(),
            value: None,
        });
        self.groups.remove(group_id);
        NONE
    }

    /// Offset retention (`offsets.retention.minutes`, Kafka's `cleanupGroupMetadata`): the
    /// offsets of a group empty for longer than the retention (of a standalone consumer: not
    /// committed for that long; with a v2-4 retention time: past it) are deleted, then an empty
    /// group with no offsets left.
    pub fn expire_offsets(&mut self, now: i64) -> Outcome {
        let mut out = Outcome::default();
        let retention = self.config.offsets_retention_ms;
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            let Some(g) = self.groups.get_mut(&id) else {
                continue;
            };
            let base_for = |g: &Group, c: &Committed| -> Option<i64> {
                match (&g.protocol_type, g.state) {
                    (None, _) => Some(c.commit_timestamp),
                    (Some(_), GroupState::Empty) => {
                        Some(g.state_timestamp.unwrap_or(c.commit_timestamp))
                    }
                    _ => None,
                }
            };
            let expired: Vec<(String, i32)> = g
                .offsets
                .iter()
                .filter(|(_, c)| match c.expire_timestamp {
                    Some(e) => now >= e && base_for(g, c).is_some(),
                    None => base_for(g, c).is_some_and(|b| now - b >= retention),
                })
                .map(|(k, _)| k.clone())
                .collect();
            for (topic, partition) in &expired {
                g.offsets.remove(&(topic.clone(), *partition));
                out.records.push(g.offset_record(topic, *partition));
            }
            if !expired.is_empty()
                && g.offsets.is_empty()
                && g.state == GroupState::Empty
                && g.members.is_empty()
            {
                out.records.push(Record::Group {
                    group: id.clone(),
                    value: None,
                });
                self.groups.remove(&id);
            }
        }
        out
    }
}

/// Kafka's `ClassicGroup.validateOffsetCommit` (non-transactional).
fn validate_offset_commit(g: &Group, req: &OffsetCommitRequest) -> Result<(), i16> {
    if g.state == GroupState::Dead {
        return Err(COORDINATOR_NOT_AVAILABLE);
    }
    if req.generation_id < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
        g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != g.generation {
            return Err(ILLEGAL_GENERATION);
        }
    } else if g.state != GroupState::Empty {
        return Err(UNKNOWN_MEMBER_ID);
    }
    if g.state == GroupState::CompletingRebalance {
        return Err(REBALANCE_IN_PROGRESS);
    }
    Ok(())
}
