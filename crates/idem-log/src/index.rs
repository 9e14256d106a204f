//! Sparse indexes of one segment, kept in memory and written to disk whole.
//!
//! An entry is added after every `index.interval.bytes` of batches, so a lookup lands within a
//! few KiB of any offset or timestamp and the rest is a scan of batch headers. The files are
//! written once, when a segment is rolled and at clean shutdown; after an unclean stop the
//! segments that are recovered get fresh indexes from the scan. A file that does not pass
//! [`OffsetIndex::decode`] or [`TimeIndex::decode`] is rebuilt, never trusted.

/// Offset index: `(offset relative to the segment base, byte position of that batch)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

const OFFSET_ENTRY: usize = 8;
const TIME_ENTRY: usize = 12;

impl OffsetIndex {
    pub(crate) fn push(&mut self, relative_offset: u32, position: u32) {
        debug_assert!(self
            .entries
            .last()
            .is_none_or(|(o, p)| *o < relative_offset && *p < position));
        self.entries.push((relative_offset, position));
    }

    /// Position of the last indexed batch whose base offset is `<= relative_offset`; 0 when
    /// none is.
    pub(crate) fn lookup(&self, relative_offset: u32) -> u32 {
        match self.entries.partition_point(|(o, _)| *o <= relative_offset) {
            0 => 0,
            i => self.entries[i - 1].1,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY);
        for (o, p) in &self.entries {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// Decodes an index file, refusing anything inconsistent with a segment of
    /// `segment_size` bytes: the caller rebuilds instead.
    pub(crate) fn decode(bytes: &[u8], segment_size: u64) -> Option<OffsetIndex> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY) {
            return None;
        }
        let mut entries = Vec::with_capacity(bytes.len() / OFFSET_ENTRY);
        for chunk in bytes.chunks_exact(OFFSET_ENTRY) {
            let o = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let p = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if u64::from(p) >= segment_size {
                return None;
            }
            if let Some((lo, lp)) = entries.last() {
                if o <= *lo || p <= *lp {
                    return None;
                }
            }
            entries.push((o, p));
        }
        Some(OffsetIndex { entries })
    }

    pub(crate) fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }
}

/// Time index: `(largest timestamp so far, relative offset of the batch holding it)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Adds an entry if the timestamp moved forward since the last one.
    pub(crate) fn maybe_push(&mut self, timestamp: i64, relative_offset: u32) {
        if self
            .entries
            .last()
            .is_none_or(|(t, o)| timestamp > *t && relative_offset > *o)
        {
            self.entries.push((timestamp, relative_offset));
        }
    }

    /// Relative offset from which a scan for the first timestamp `>= target` may start: the
    /// offset of the last entry whose timestamp is `< target` (every batch before it has
    /// only smaller timestamps), or 0.
    pub(crate) fn lookup(&self, target: i64) -> u32 {
        match self.entries.partition_point(|(t, _)| *t < target) {
            0 => 0,
            i => self.entries[i - 1].1,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY);
        for (t, o) in &self.entries {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&o.to_be_bytes());
        }
        out
    }

    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    pub(crate) fn decode(bytes: &[u8], max_relative_offset: u32) -> Option<TimeIndex> {
        if !bytes.len().is_multiple_of(TIME_ENTRY) {
            return None;
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / TIME_ENTRY);
        for chunk in bytes.chunks_exact(TIME_ENTRY) {
            let mut t = [0u8; 8];
            t.copy_from_slice(&chunk[..8]);
            let t = i64::from_be_bytes(t);
            let o = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            if o > max_relative_offset {
                return None;
            }
            if let Some((lt, lo)) = entries.last() {
                if t <= *lt || o <= *lo {
                    return None;
                }
            }
            entries.push((t, o));
        }
        Some(TimeIndex { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_the_last_entry_at_or_before() {
        let mut i = OffsetIndex::default();
        assert_eq!(i.lookup(5), 0);
        i.push(10, 4096);
        i.push(20, 8200);
        assert_eq!(i.lookup(9), 0);
        assert_eq!(i.lookup(10), 4096);
        assert_eq!(i.lookup(19), 4096);
        assert_eq!(i.lookup(1000), 8200);
        let back = OffsetIndex::decode(&i.encode(), 9000).expect("decode");
        assert_eq!(back, i);
        assert!(
            OffsetIndex::decode(&i.encode(), 8000).is_none(),
            "position past the end"
        );
        assert!(
            OffsetIndex::decode(&[0; 16], 9000).is_none(),
            "zeros are not monotonic"
        );
        assert!(OffsetIndex::decode(&[0; 7], 9000).is_none());
    }

    #[test]
    fn time_lookup_starts_before_the_first_match() {
        let mut t = TimeIndex::default();
        t.maybe_push(100, 5);
        t.maybe_push(90, 6); // not forward: ignored
        t.maybe_push(200, 10);
        assert_eq!(t.lookup(50), 0);
        assert_eq!(t.lookup(100), 0);
        assert_eq!(t.lookup(150), 5);
        assert_eq!(t.lookup(201), 10);
        assert_eq!(TimeIndex::decode(&t.encode(), 10), Some(t.clone()));
        assert!(TimeIndex::decode(&t.encode(), 9).is_none());
    }
}
