//! The log of one partition: an ordered list of segments, the last one active.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use idem_wire::batch::{self, BatchHeader, HEADER_LEN};
use idem_wire::compression::Codec;
use idem_wire::records;

use crate::segment::{file_name, Damage, Segment};
use crate::storage::{self, Storage, StorageFile};
use crate::{io_err, LogError};

/// Settings of one log, with Kafka's names in the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when an incoming batch's timestamp is this far past the active
    /// segment's first batch (or, for batches without timestamps, the segment is this old).
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest timestamp is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete old segments while the log is larger; -1 for no limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes of batches between two index entries.
    pub index_interval_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
        }
    }
}

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Segments whose every batch was verified (after an unclean stop).
    pub verified_segments: usize,
    /// Bytes cut off torn or corrupt tails, and what was wrong.
    pub truncated: Vec<(i64, u64, String)>,
    /// Segments deleted because an earlier one was truncated or they did not line up.
    pub dropped_segments: Vec<i64>,
    /// Snapshots deleted because they lie beyond the recovered end.
    pub dropped_snapshots: Vec<i64>,
}

/// A partition log.
#[derive(Debug)]
pub struct Log {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset; never empty; the last is the active segment.
    segments: Vec<Segment>,
    log_start_offset: i64,
    recovery_point: i64,
    flushed_offset: i64,
    offline: Option<String>,
}

const CHECKPOINT: &str = "partition.checkpoint";

/// The file behind the placeholder segment of an offline log: every operation fails, so
/// nothing can read from or write to a directory that could not be opened.
#[derive(Debug)]
struct OfflineFile;

impl StorageFile for OfflineFile {
    fn read_at(&self, _: &mut [u8], _: u64) -> std::io::Result<usize> {
        Err(std::io::Error::other("the partition is offline"))
    }
    fn write_all_at(&self, _: &[u8], _: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("the partition is offline"))
    }
    fn set_len(&self, _: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("the partition is offline"))
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Err(std::io::Error::other("the partition is offline"))
    }
    fn len(&self) -> std::io::Result<u64> {
        Ok(0)
    }
}

impl Log {
    /// A log that could not be opened (damaged, unreadable): offline from the start, with
    /// `reason`, touching nothing on disk. Every read and append is refused with
    /// [`LogError::Offline`]; the directory is left as it is for an operator to look at,
    /// and the next start tries to open it again.
    pub fn offline(
        storage: Arc<dyn Storage>,
        dir: &Path,
        config: LogConfig,
        reason: String,
    ) -> Log {
        let path = dir.join(file_name(0, "log"));
        Log {
            storage,
            dir: dir.to_path_buf(),
            config,
            segments: vec![Segment::empty(0, Arc::new(OfflineFile), path)],
            log_start_offset: 0,
            recovery_point: 0,
            flushed_offset: 0,
            offline: Some(reason),
        }
    }

    /// Creates the directory and first segment of a new, empty log.
    pub fn create(
        storage: Arc<dyn Storage>,
        dir: &Path,
        config: LogConfig,
    ) -> Result<Log, LogError> {
        storage
            .create_dir_all(dir)
            .map_err(io_err("create log directory", dir))?;
        if let Some(parent) = dir.parent() {
            storage
                .sync_dir(parent)
                .map_err(io_err("sync directory", parent))?;
        }
        let segment = Segment::create(storage.as_ref(), dir, 0)?;
        storage
            .sync_dir(dir)
            .map_err(io_err("sync directory", dir))?;
        let log = Log {
            storage,
            dir: dir.to_path_buf(),
            config,
            segments: vec![segment],
            log_start_offset: 0,
            recovery_point: 0,
            flushed_offset: 0,
            offline: None,
        };
        log.write_checkpoint()?;
        Ok(log)
    }

    /// Opens an existing log. After an unclean stop (`clean_shutdown == false`) every segment
    /// from the recovery point on is verified batch by batch and truncated at the first torn
    /// or corrupt batch; later segments are dropped. What remains is a prefix of what was
    /// written, and it is synced before the log is used.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<(Log, OpenReport), LogError> {
        // A crash while a topic was being created can leave it in the catalog with a
        // partition directory that never became durable. Nothing was ever acknowledged in
        // it: it comes back as a new, empty log (as Kafka recreates a missing log).
        if !storage.exists(dir) {
            tracing::warn!(dir = %dir.display(), "partition directory missing; creating an empty log");
            return Ok((Log::create(storage, dir, config)?, OpenReport::default()));
        }
        let names = storage
            .list_dir(dir)
            .map_err(io_err("list log directory", dir))?;
        let mut bases = Vec::new();
        for name in &names {
            if name.ends_with(".tmp") {
                let path = dir.join(name);
                storage
                    .remove_file(&path)
                    .map_err(io_err("remove temporary file", &path))?;
            } else if let Some(base) = parse_base(name, ".log") {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let (checkpoint_start, checkpoint_recovery) = read_checkpoint(storage.as_ref(), dir);
        let mut report = OpenReport::default();
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
        let mut broken = false;
        for (i, base) in bases.iter().copied().enumerate() {
            if broken {
                report.dropped_segments.push(base);
                delete_segment_files(storage.as_ref(), dir, base)?;
                continue;
            }
            if let Some(prev) = segments.last() {
                if prev.next_offset != base {
                    // A gap or overlap between segments: nothing after it can be trusted.
                    report.dropped_segments.push(base);
                    delete_segment_files(storage.as_ref(), dir, base)?;
                    broken = true;
                    continue;
                }
            }
            // A segment is trusted without verification when the stop was clean, or when it
            // lies entirely below the recovery point (it was synced when it was rolled).
            let next_base = bases.get(i + 1).copied();
            let trusted =
                clean_shutdown || next_base.is_some_and(|next| next <= checkpoint_recovery);
            let (segment, damage) = if trusted {
                Segment::open_clean(storage.as_ref(), dir, base, config.index_interval_bytes)?
            } else {
                report.verified_segments += 1;
                Segment::open(
                    storage.as_ref(),
                    dir,
                    base,
                    true,
                    config.index_interval_bytes,
                )?
            };
            if let Some((at, damage)) = damage {
                let what = match damage {
                    Damage::Torn => "torn write".to_string(),
                    Damage::Corrupt(what) => format!("corrupt {what}"),
                };
                tracing::warn!(
                    dir = %dir.display(),
                    segment = base,
                    position = at,
                    "log recovery: truncated segment at the first bad batch ({what})"
                );
                report.truncated.push((base, at, what));
                broken = true;
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            let base = checkpoint_start.max(0);
            segments.push(Segment::create(storage.as_ref(), dir, base)?);
            storage
                .sync_dir(dir)
                .map_err(io_err("sync directory", dir))?;
        }
        let first_base = segments[0].base_offset;
        let end = segments.last().map_or(0, |s| s.next_offset);
        let log_start_offset = checkpoint_start.clamp(first_base, end);
        let active = segments.last().map(|s| s.base_offset).unwrap_or(0);
        let mut log = Log {
            storage,
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            recovery_point: active,
            flushed_offset: 0,
            offline: None,
        };
        // Whatever survived is made durable before anything is served from it, so the high
        // watermark may start at the end.
        if !clean_shutdown || !report.truncated.is_empty() {
            for s in &log.segments {
                s.file
                    .sync_data()
                    .map_err(io_err("sync recovered segment", s.path()))?;
            }
            if !report.dropped_segments.is_empty() {
                log.storage
                    .sync_dir(&log.dir)
                    .map_err(io_err("sync directory", &log.dir))?;
            }
        }
        log.flushed_offset = end;
        for offset in log.snapshot_offsets()? {
            if offset > end {
                let path = log.dir.join(file_name(offset, "snapshot"));
                log.storage
                    .remove_file(&path)
                    .map_err(io_err("remove stray snapshot", &path))?;
                report.dropped_snapshots.push(offset);
            }
        }
        // Rewritten (synced, renamed) only when it changed: a clean start of many partitions
        // should not cost a sync each.
        if (log.log_start_offset, log.recovery_point) != (checkpoint_start, checkpoint_recovery) {
            log.write_checkpoint()?;
        }
        Ok((log, report))
    }

    /// The directory of this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Settings in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes settings (topic config updates); takes effect at the next roll or retention.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// First offset a consumer may read.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next batch will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Everything below this offset has been synced to disk.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Base offsets of the segments.
    pub fn segment_bases(&self) -> Vec<i64> {
        self.segments.iter().map(|s| s.base_offset).collect()
    }

    /// Why the log refuses work, if it does.
    pub fn offline_reason(&self) -> Option<&str> {
        self.offline.as_deref()
    }

    /// Takes the log offline: a write or sync failed and nothing more may be acknowledged
    /// from it until a restart recovers it (after a failed fsync the page cache may already
    /// have dropped the data, so retrying the sync proves nothing).
    pub fn set_offline(&mut self, reason: String) {
        if self.offline.is_none() {
            tracing::error!(dir = %self.dir.display(), %reason, "log taken offline");
            self.offline = Some(reason);
        }
    }

    fn check_online(&self) -> Result<(), LogError> {
        match &self.offline {
            Some(reason) => Err(LogError::Offline(reason.clone())),
            None => Ok(()),
        }
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has a segment")
    }

    /// Whether a batch of `batch_len` bytes whose largest timestamp is `batch_max_timestamp`
    /// should go to a new segment. `now_ms` is the broker's clock.
    ///
    /// By time, as Kafka's `LogSegment.shouldRoll`: a non-empty segment rolls when the
    /// incoming batch's max timestamp is more than `segment.ms` past the max timestamp of the
    /// segment's first batch, so a backfill of old records stays together; only when that
    /// first batch has no timestamp (-1) does the wall clock since the segment was created
    /// or opened count. On LogAppendTime topics the caller passes the append time (what will
    /// be stored), as Kafka rolls on the validated batch.
    pub fn should_roll(&self, batch_len: usize, batch_max_timestamp: i64, now_ms: i64) -> bool {
        let active = self.active();
        if active.size == 0 {
            return false;
        }
        let full = active.size + batch_len as u64 > self.config.segment_bytes;
        let waited = match active.first_batch_timestamp {
            Some(first) if first >= 0 => batch_max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(active.created_ms),
        };
        let old = waited > self.config.segment_ms;
        // Index entries hold offsets and positions relative to the segment as u32.
        let offsets_overflow = self.log_end_offset() - active.base_offset > i64::from(i32::MAX);
        let positions_overflow = active.size + batch_len as u64 > i32::MAX as u64;
        full || old || offsets_overflow || positions_overflow
    }

    /// Closes the active segment (synced, indexes written) and starts a new one at the log
    /// end offset, which is returned. Does nothing on an empty active segment.
    pub fn roll(&mut self) -> Result<i64, LogError> {
        self.check_online()?;
        if self.active().size == 0 {
            return Ok(self.active().base_offset);
        }
        let result = self.roll_inner();
        if let Err(e) = &result {
            self.set_offline(format!("segment roll failed: {e}"));
        }
        result
    }

    fn roll_inner(&mut self) -> Result<i64, LogError> {
        let new_base = self.log_end_offset();
        {
            let active = self.active();
            active
                .file
                .sync_data()
                .map_err(io_err("sync segment", active.path()))?;
            active.write_indexes(self.storage.as_ref(), &self.dir)?;
        }
        let segment = Segment::create(self.storage.as_ref(), &self.dir, new_base)?;
        self.storage
            .sync_dir(&self.dir)
            .map_err(io_err("sync directory", &self.dir))?;
        self.segments.push(segment);
        self.flushed_offset = self.flushed_offset.max(new_base);
        self.recovery_point = new_base;
        self.write_checkpoint()?;
        Ok(new_base)
    }

    /// Appends a validated batch at the log end offset, writing the base offset and the
    /// partition leader epoch into its header (neither is covered by the CRC). A failed write
    /// takes the log offline.
    pub fn append(&mut self, batch: &[u8], leader_epoch: i32) -> Result<AppendInfo, LogError> {
        self.check_online()?;
        let mut header = BatchHeader::parse(batch).map_err(LogError::BadBatch)?;
        let base_offset = self.log_end_offset();
        let mut head = [0u8; 16];
        head.copy_from_slice(&batch[..16]);
        batch::set_base_offset(&mut head, base_offset);
        batch::set_partition_leader_epoch(&mut head, leader_epoch);
        header.base_offset = base_offset;
        header.partition_leader_epoch = leader_epoch;
        let interval = self.config.index_interval_bytes;
        let rest = &batch[16..header.total_len()];
        let result = self.active_mut().append(&head, rest, &header, interval);
        if let Err(e) = result {
            self.set_offline(format!("append failed: {e}"));
            return Err(e);
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: header.last_offset(),
        })
    }

    /// The file to sync and the offset it will make durable. Syncing happens outside the
    /// partition lock; then [`Log::mark_flushed`] records it.
    pub fn sync_target(&self) -> (Arc<dyn StorageFile>, i64) {
        (Arc::clone(&self.active().file), self.log_end_offset())
    }

    /// Records that everything below `offset` is durable.
    pub fn mark_flushed(&mut self, offset: i64) {
        self.flushed_offset = self.flushed_offset.max(offset.min(self.log_end_offset()));
    }

    /// Plans a read at `offset` of batches below `max_offset` (the high watermark). Cheap,
    /// under the partition lock; [`ReadPlan::read`] does the I/O without it.
    pub fn plan_read(&self, offset: i64, max_offset: i64) -> Result<ReadPlan, LogError> {
        self.check_online()?;
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let max_offset = max_offset.min(end);
        if offset >= max_offset {
            return Ok(ReadPlan::empty());
        }
        let i = self.segment_index_for(offset);
        let segment = &self.segments[i];
        let relative = (offset - segment.base_offset) as u32;
        Ok(ReadPlan {
            file: Some(Arc::clone(&segment.file)),
            path: segment.path().to_path_buf(),
            start: u64::from(segment.index.lookup(relative)),
            end: segment.size,
            target: offset,
            max_offset,
        })
    }

    /// Index of the segment holding `offset` (the last with base <= offset).
    fn segment_index_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    /// Offset and timestamp of the first record with timestamp >= `target` below
    /// `max_offset` (ListOffsets by timestamp), or `None`.
    pub fn offset_for_timestamp(
        &self,
        target: i64,
        max_offset: i64,
        max_decompressed_bytes: u64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        self.check_online()?;
        for segment in &self.segments {
            if segment.max_timestamp < target || segment.base_offset >= max_offset {
                continue;
            }
            let relative = segment.time_index.lookup(target);
            let mut scan = segment.scanner(u64::from(segment.index.lookup(relative)));
            while let Some((pos, h)) = scan.next_header()? {
                if h.base_offset >= max_offset {
                    break;
                }
                if h.max_timestamp >= target && h.last_offset() >= self.log_start_offset {
                    let bytes = scan.batch(pos, &h)?;
                    let found = find_record(bytes, &h, max_decompressed_bytes, |ts| ts >= target)?;
                    if let Some((offset, ts)) = found {
                        if offset >= self.log_start_offset && offset < max_offset {
                            return Ok(Some((offset, ts)));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp_record(
        &self,
        max_offset: i64,
        max_decompressed_bytes: u64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        self.check_online()?;
        let Some(segment) = self
            .segments
            .iter()
            .filter(|s| s.size > 0 && s.offset_of_max_timestamp < max_offset)
            .max_by_key(|s| s.max_timestamp)
        else {
            return Ok(None);
        };
        let target = segment.max_timestamp;
        let relative = (segment.offset_of_max_timestamp - segment.base_offset) as u32;
        let mut scan = segment.scanner(u64::from(segment.index.lookup(relative)));
        while let Some((pos, h)) = scan.next_header()? {
            if h.base_offset == segment.offset_of_max_timestamp {
                let bytes = scan.batch(pos, &h)?;
                return find_record(bytes, &h, max_decompressed_bytes, |ts| ts >= target);
            }
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch whose base offset is >= `from` (recovery of
    /// producer state after a snapshot).
    pub fn for_each_batch_from(
        &self,
        from: i64,
        mut f: impl FnMut(&BatchHeader),
    ) -> Result<(), LogError> {
        let first = self.segment_index_for(from);
        for segment in &self.segments[first..] {
            let mut scan = segment.scanner(0);
            while let Some((_, h)) = scan.next_header()? {
                if h.base_offset >= from {
                    f(&h);
                }
            }
        }
        Ok(())
    }

    /// How many of the oldest segments retention would delete now, and whether that takes
    /// the active segment (which must be rolled first, as Kafka does).
    pub fn retention_plan(&self, now_ms: i64) -> (usize, bool) {
        let mut count = 0;
        let mut remaining = self.size_bytes() as i64;
        for (i, s) in self.segments.iter().enumerate() {
            if s.size == 0 {
                break;
            }
            let too_old = self.config.retention_ms >= 0
                && now_ms.saturating_sub(s.max_timestamp) > self.config.retention_ms;
            let too_big = self.config.retention_bytes >= 0
                && remaining - s.size as i64 >= self.config.retention_bytes;
            // Stop at the first segment that is kept: retention deletes a prefix.
            if !(too_old || too_big) {
                break;
            }
            // A size limit never deletes the active segment; an age limit may (after a roll).
            if i == self.segments.len() - 1 && !too_old {
                break;
            }
            remaining -= s.size as i64;
            count = i + 1;
        }
        (count, count == self.segments.len())
    }

    /// Deletes the `count` oldest segments (never the active one) and moves the log start.
    pub fn delete_oldest_segments(&mut self, count: usize) -> Result<(), LogError> {
        let count = count.min(self.segments.len() - 1);
        if count == 0 {
            return Ok(());
        }
        let removed: Vec<Segment> = self.segments.drain(..count).collect();
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        // The new start is recorded before files disappear, so a crash in between leaves a
        // checkpoint that is still inside the log.
        self.write_checkpoint()?;
        for s in &removed {
            s.delete_files(self.storage.as_ref(), &self.dir)?;
        }
        self.prune_snapshots()?;
        Ok(())
    }

    /// Moves the log start offset forward (DeleteRecords), deleting whole segments below it.
    pub fn advance_log_start(&mut self, offset: i64) -> Result<i64, LogError> {
        self.check_online()?;
        let end = self.log_end_offset();
        if offset > end || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        let below = self
            .segments
            .iter()
            .take_while(|s| s.next_offset <= offset)
            .count()
            .min(self.segments.len() - 1);
        self.write_checkpoint()?;
        if below > 0 {
            self.delete_oldest_segments(below)?;
        }
        Ok(self.log_start_offset)
    }

    /// Writes index files and syncs the active segment (clean shutdown).
    pub fn close(&mut self) -> Result<(), LogError> {
        self.check_online()?;
        let active = self.active();
        active
            .file
            .sync_data()
            .map_err(io_err("sync segment", active.path()))?;
        active.write_indexes(self.storage.as_ref(), &self.dir)?;
        self.flushed_offset = self.log_end_offset();
        self.write_checkpoint()
    }

    // ---- Producer snapshots live next to the segments; their content is opaque here.

    /// Offsets of the snapshot files, ascending.
    pub fn snapshot_offsets(&self) -> Result<Vec<i64>, LogError> {
        let names = self
            .storage
            .list_dir(&self.dir)
            .map_err(io_err("list log directory", &self.dir))?;
        let mut offsets: Vec<i64> = names
            .iter()
            .filter_map(|n| parse_base(n, ".snapshot"))
            .collect();
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// Writes a snapshot taken at `offset` (durably and atomically).
    pub fn write_snapshot(&self, offset: i64, bytes: &[u8]) -> Result<(), LogError> {
        let name = file_name(offset, "snapshot");
        storage::write_atomically(self.storage.as_ref(), &self.dir, &name, bytes)
            .map_err(io_err("write snapshot", &self.dir.join(&name)))
    }

    /// Reads the snapshot taken at `offset`.
    pub fn read_snapshot(&self, offset: i64) -> Result<Vec<u8>, LogError> {
        let path = self.dir.join(file_name(offset, "snapshot"));
        storage::read_file(self.storage.as_ref(), &path).map_err(io_err("read snapshot", &path))
    }

    /// Renames a snapshot that failed to decode, so it is kept for inspection but never
    /// loaded again.
    pub fn set_aside_snapshot(&self, offset: i64) -> Result<(), LogError> {
        let from = self.dir.join(file_name(offset, "snapshot"));
        let to = self
            .dir
            .join(format!("{}.corrupt", file_name(offset, "snapshot")));
        self.storage
            .rename(&from, &to)
            .map_err(io_err("set aside snapshot", &from))
    }

    /// Deletes snapshots below the first segment, keeping the newest one in any case.
    fn prune_snapshots(&self) -> Result<(), LogError> {
        let offsets = self.snapshot_offsets()?;
        let first = self.segments[0].base_offset;
        let newest = offsets.last().copied();
        for offset in offsets {
            if offset < first && Some(offset) != newest {
                let path = self.dir.join(file_name(offset, "snapshot"));
                self.storage
                    .remove_file(&path)
                    .map_err(io_err("remove snapshot", &path))?;
            }
        }
        Ok(())
    }

    fn write_checkpoint(&self) -> Result<(), LogError> {
        let body = format!(
            "idem-partition-checkpoint v1 log_start={} recovery_point={}",
            self.log_start_offset, self.recovery_point
        );
        let line = format!("{body} crc={:08x}\n", crc32c::crc32c(body.as_bytes()));
        storage::write_atomically(
            self.storage.as_ref(),
            &self.dir,
            CHECKPOINT,
            line.as_bytes(),
        )
        .map_err(io_err("write checkpoint", &self.dir.join(CHECKPOINT)))
    }
}

/// Deletes a log directory (topic deletion): renamed first so a crash never leaves a
/// half-deleted directory under the live name.
pub fn delete_log_dir(storage: &dyn Storage, dir: &Path) -> Result<(), LogError> {
    let Some(name) = dir.file_name() else {
        return Ok(());
    };
    let doomed = dir.with_file_name(format!("{}.deleted", name.to_string_lossy()));
    storage
        .rename(dir, &doomed)
        .map_err(io_err("rename log directory", dir))?;
    if let Some(parent) = dir.parent() {
        storage
            .sync_dir(parent)
            .map_err(io_err("sync directory", parent))?;
    }
    storage
        .remove_dir_all(&doomed)
        .map_err(io_err("remove log directory", &doomed))
}

fn delete_segment_files(storage: &dyn Storage, dir: &Path, base: i64) -> Result<(), LogError> {
    for suffix in ["log", "index", "timeindex"] {
        let path = dir.join(file_name(base, suffix));
        match storage.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("delete segment", &path)(e)),
        }
    }
    Ok(())
}

fn parse_base(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `(log start, recovery point)` from the checkpoint; `(0, 0)` when missing or damaged,
/// which makes open verify every segment.
fn read_checkpoint(storage: &dyn Storage, dir: &Path) -> (i64, i64) {
    let Ok(bytes) = storage::read_file(storage, &dir.join(CHECKPOINT)) else {
        return (0, 0);
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return (0, 0);
    };
    let text = text.trim_end();
    let Some((body, crc)) = text.rsplit_once(" crc=") else {
        return (0, 0);
    };
    if u32::from_str_radix(crc, 16).ok() != Some(crc32c::crc32c(body.as_bytes())) {
        tracing::warn!(dir = %dir.display(), "partition checkpoint is damaged; verifying every segment");
        return (0, 0);
    }
    let field = |key: &str| {
        body.split(' ')
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse::<i64>().ok())
    };
    match (field("log_start="), field("recovery_point=")) {
        (Some(start), Some(recovery)) if start >= 0 && recovery >= 0 => (start, recovery),
        _ => (0, 0),
    }
}

/// Finds the first record of a batch whose timestamp satisfies `pred`.
fn find_record(
    bytes: &[u8],
    header: &BatchHeader,
    max_decompressed_bytes: u64,
    pred: impl Fn(i64) -> bool,
) -> Result<Option<(i64, i64)>, LogError> {
    if header.is_log_append_time() {
        return Ok(pred(header.max_timestamp).then_some((header.base_offset, header.max_timestamp)));
    }
    let codec = header.codec().unwrap_or(Codec::None);
    let mut found = None;
    let section = &bytes[HEADER_LEN.min(bytes.len())..];
    let walked = records::walk(
        codec,
        section,
        header.records_count,
        max_decompressed_bytes,
        |r| {
            let ts = header.base_timestamp.saturating_add(r.timestamp_delta);
            if pred(ts) {
                found = Some((header.base_offset + i64::from(r.offset_delta), ts));
                false
            } else {
                true
            }
        },
    );
    match walked {
        Ok(_) => Ok(found),
        // A batch we stored but cannot walk: fall back to its header, never fail the lookup.
        Err(_) => {
            Ok(pred(header.max_timestamp).then_some((header.base_offset, header.max_timestamp)))
        }
    }
}

/// A read planned under the lock, executed without it.
#[derive(Debug)]
pub struct ReadPlan {
    file: Option<Arc<dyn StorageFile>>,
    path: PathBuf,
    start: u64,
    end: u64,
    target: i64,
    max_offset: i64,
}

impl ReadPlan {
    fn empty() -> ReadPlan {
        ReadPlan {
            file: None,
            path: PathBuf::new(),
            start: 0,
            end: 0,
            target: 0,
            max_offset: 0,
        }
    }

    /// Whole batches from the one holding the planned offset, below the planned maximum
    /// offset, up to `max_bytes`; with `at_least_one`, the first batch even if it is larger
    /// (KIP-74), so a consumer never stalls on a big batch.
    pub fn read(&self, max_bytes: usize, at_least_one: bool) -> Result<Bytes, LogError> {
        let Some(file) = &self.file else {
            return Ok(Bytes::new());
        };
        let mut scan =
            crate::segment::Scanner::new(file.as_ref(), &self.path, self.start, self.end);
        // [begin, stop): the whole batches to return.
        let mut range: Option<(u64, u64)> = None;
        while let Some((pos, h)) = scan.next_header()? {
            if h.base_offset >= self.max_offset {
                break;
            }
            if h.last_offset() < self.target {
                continue;
            }
            let end = pos + h.total_len() as u64;
            match range {
                None if end - pos > max_bytes as u64 && !at_least_one => break,
                None => range = Some((pos, end)),
                Some((begin, _)) if end - begin > max_bytes as u64 => break,
                Some((begin, _)) => range = Some((begin, end)),
            }
        }
        let Some((begin, stop)) = range else {
            return Ok(Bytes::new());
        };
        let mut out = vec![0u8; (stop - begin) as usize];
        let n = file
            .read_at(&mut out, begin)
            .map_err(io_err("read segment", &self.path))?;
        out.truncate(n);
        Ok(Bytes::from(out))
    }
}
