//! The records the coordinator makes durable, in the layout of Kafka's `__consumer_offsets`.
//!
//! Keys and values are Kafka's (`OffsetCommitKey` v1, `OffsetCommitValue` v1/v3,
//! `GroupMetadataKey` v2, `GroupMetadataValue` v3; big-endian, `i16`-length strings,
//! `i32`-length bytes), so `kafka-console-consumer --formatter` style tools read them. A null
//! value is a tombstone. One key is idem's own: [`Record::SnapshotStart`] (key version
//! `i16::MAX`, no value) says "everything before me is superseded by what follows", which
//! lets the broker rewrite the live state into one batch and drop the older records, since
//! idem has no log compaction.
//!
//! Decoding never panics and never allocates more than the bytes it was given: every length
//! is checked against what is left.

use bytes::Bytes;

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const SNAPSHOT_KEY_VERSION: i16 = i16::MAX;
const GROUP_VALUE_VERSION: i16 = 3;

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The offset of the next record to consume.
    pub offset: i64,
    /// Leader epoch the consumer saw, or -1.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: String,
    /// When it was committed (ms).
    pub commit_timestamp: i64,
    /// OffsetCommit v2-4 `retention_time_ms`: when it expires (ms), if the client set one.
    pub expire_timestamp: Option<i64>,
}

/// A member as stored in the group's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    /// Member id.
    pub member_id: String,
    /// Static member id (`group.instance.id`).
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout (ms).
    pub rebalance_timeout_ms: i32,
    /// Session timeout (ms).
    pub session_timeout_ms: i32,
    /// Metadata of the chosen protocol.
    pub subscription: Bytes,
    /// Assignment from the leader.
    pub assignment: Bytes,
}

/// A group's metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Protocol type ("consumer", "connect", ...); empty for groups that only commit offsets.
    pub protocol_type: String,
    /// Generation.
    pub generation: i32,
    /// Chosen protocol (assignor).
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// When the group entered its current state (ms), or -1.
    pub current_state_timestamp: i64,
    /// Members with their assignments.
    pub members: Vec<MemberValue>,
}

/// One record of the coordinator's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A committed offset, or its tombstone (`None`).
    Offset {
        /// Group id.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offset, or `None` when deleted.
        value: Option<Committed>,
    },
    /// A group's metadata, or its tombstone (`None`).
    Group {
        /// Group id.
        group: String,
        /// The metadata, or `None` when the group was deleted.
        value: Option<GroupValue>,
    },
    /// idem only: the state is rebuilt from the records that follow.
    SnapshotStart,
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad coordinator record: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    out.extend_from_slice(&(len as i16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_nstr(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

impl Record {
    /// The key and value bytes (`None` for a tombstone or the snapshot marker).
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut key = Vec::new();
        match self {
            Record::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                key.extend_from_slice(&OFFSET_KEY_VERSION.to_be_bytes());
                put_str(&mut key, group);
                put_str(&mut key, topic);
                key.extend_from_slice(&partition.to_be_bytes());
                let value = value.as_ref().map(|c| {
                    let mut v = Vec::new();
                    match c.expire_timestamp {
                        // Version 1 is the one with an expiry (OffsetCommit v2-4 retention).
                        Some(expire) => {
                            v.extend_from_slice(&1i16.to_be_bytes());
                            v.extend_from_slice(&c.offset.to_be_bytes());
                            put_str(&mut v, &c.metadata);
                            v.extend_from_slice(&c.commit_timestamp.to_be_bytes());
                            v.extend_from_slice(&expire.to_be_bytes());
                        }
                        None => {
                            v.extend_from_slice(&3i16.to_be_bytes());
                            v.extend_from_slice(&c.offset.to_be_bytes());
                            v.extend_from_slice(&c.leader_epoch.to_be_bytes());
                            put_str(&mut v, &c.metadata);
                            v.extend_from_slice(&c.commit_timestamp.to_be_bytes());
                        }
                    }
                    v
                });
                (key, value)
            }
            Record::Group { group, value } => {
                key.extend_from_slice(&GROUP_KEY_VERSION.to_be_bytes());
                put_str(&mut key, group);
                let value = value.as_ref().map(|g| {
                    let mut v = Vec::new();
                    v.extend_from_slice(&GROUP_VALUE_VERSION.to_be_bytes());
                    put_str(&mut v, &g.protocol_type);
                    v.extend_from_slice(&g.generation.to_be_bytes());
                    put_nstr(&mut v, g.protocol.as_deref());
                    put_nstr(&mut v, g.leader.as_deref());
                    v.extend_from_slice(&g.current_state_timestamp.to_be_bytes());
                    v.extend_from_slice(&(g.members.len() as i32).to_be_bytes());
                    for m in &g.members {
                        put_str(&mut v, &m.member_id);
                        put_nstr(&mut v, m.group_instance_id.as_deref());
                        put_str(&mut v, &m.client_id);
                        put_str(&mut v, &m.client_host);
                        v.extend_from_slice(&m.rebalance_timeout_ms.to_be_bytes());
                        v.extend_from_slice(&m.session_timeout_ms.to_be_bytes());
                        put_bytes(&mut v, &m.subscription);
                        put_bytes(&mut v, &m.assignment);
                    }
                    v
                });
                (key, value)
            }
            Record::SnapshotStart => {
                key.extend_from_slice(&SNAPSHOT_KEY_VERSION.to_be_bytes());
                (key, None)
            }
        }
    }

    /// Reads a record back from its key and value.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, DecodeError> {
        let mut k = Reader(key);
        match k.i16()? {
            0 | OFFSET_KEY_VERSION => {
                let group = k.string()?;
                let topic = k.string()?;
                let partition = k.i32()?;
                let value = value.map(decode_offset_value).transpose()?;
                Ok(Record::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            GROUP_KEY_VERSION => {
                let group = k.string()?;
                let value = value.map(decode_group_value).transpose()?;
                Ok(Record::Group { group, value })
            }
            SNAPSHOT_KEY_VERSION => Ok(Record::SnapshotStart),
            _ => Err(DecodeError("unknown key version")),
        }
    }
}

fn decode_offset_value(v: &[u8]) -> Result<Committed, DecodeError> {
    let mut r = Reader(v);
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = match version {
        1 => Some(r.i64()?).filter(|t| *t >= 0),
        0 | 2 | 3 | 4 => None,
        _ => return Err(DecodeError("unknown offset value version")),
    };
    Ok(Committed {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

fn decode_group_value(v: &[u8]) -> Result<GroupValue, DecodeError> {
    let mut r = Reader(v);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(DecodeError("unknown group value version"));
    }
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nstring()?;
    let leader = r.nstring()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?;
    if count < 0 || count as usize > r.0.len() {
        return Err(DecodeError("member count"));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 { r.nstring()? } else { None };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let session_timeout_ms = r.i32()?;
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// A bounds-checked big-endian reader.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    pub(crate) fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    pub(crate) fn nstring(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| DecodeError("string is not UTF-8"))
    }
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        self.nstring()?.ok_or(DecodeError("null string"))
    }
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }
}

/// The topics a `consumer` protocol member subscribes to (`ConsumerProtocolSubscription`:
/// version, then an array of topic names), or `None` if the metadata does not parse.
pub fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader(metadata);
    let _version = r.i16().ok()?;
    let count = r.i32().ok()?;
    if count < 0 || count as usize > metadata.len() {
        return None;
    }
    let mut topics = Vec::with_capacity(count as usize);
    for _ in 0..count {
        topics.push(r.string().ok()?);
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(r: Record) {
        let (k, v) = r.encode();
        assert_eq!(Record::decode(&k, v.as_deref()).unwrap(), r);
    }

    #[test]
    fn records_roundtrip() {
        roundtrip(Record::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(Committed {
                offset: 42,
                leader_epoch: 7,
                metadata: "m".into(),
                commit_timestamp: 1000,
                expire_timestamp: None,
            }),
        });
        roundtrip(Record::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(Committed {
                offset: 42,
                leader_epoch: -1,
                metadata: "".into(),
                commit_timestamp: 1000,
                expire_timestamp: Some(5000),
            }),
        });
        roundtrip(Record::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: None,
        });
        roundtrip(Record::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 5,
                protocol: Some("range".into()),
                leader: Some("m1".into()),
                current_state_timestamp: 77,
                members: vec![MemberValue {
                    member_id: "m1".into(),
                    group_instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300000,
                    session_timeout_ms: 45000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        });
        roundtrip(Record::Group {
            group: "g".into(),
            value: None,
        });
        roundtrip(Record::SnapshotStart);
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        let (k, v) = Record::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 1,
                protocol: None,
                leader: None,
                current_state_timestamp: -1,
                members: vec![],
            }),
        }
        .encode();
        let v = v.unwrap();
        for cut in 0..v.len() {
            assert!(Record::decode(&k, Some(&v[..cut])).is_err());
        }
        for cut in 0..k.len() {
            assert!(Record::decode(&k[..cut], None).is_err());
        }
        // A member count far beyond the bytes.
        let mut big = v.clone();
        let n = big.len();
        big[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(Record::decode(&k, Some(&big)).is_err());
        assert!(Record::decode(&[0, 9], None).is_err());
    }

    #[test]
    fn subscription_topics_parse() {
        let mut m = Vec::new();
        m.extend_from_slice(&1i16.to_be_bytes());
        m.extend_from_slice(&2i32.to_be_bytes());
        put_str(&mut m, "a");
        put_str(&mut m, "b");
        m.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(subscribed_topics(&m), Some(vec!["a".into(), "b".into()]));
        assert_eq!(subscribed_topics(&m[..5]), None);
    }
}
