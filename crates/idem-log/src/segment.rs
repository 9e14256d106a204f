//! One segment: a `.log` file of record batches starting at `base_offset`, with its indexes.
//!
//! The file holds v2 record batches exactly as Kafka stores them, back to back, with
//! contiguous offsets. Bytes below `size` are immutable once written: readers may use them
//! without the partition lock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use idem_wire::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

use crate::index::{OffsetIndex, TimeIndex};
use crate::storage::{Storage, StorageFile};
use crate::{io_err, LogError};

/// File name of a segment (or of its index, time index, snapshot) for a base offset.
pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// Reads a file through a window, so that scanning many small batch headers costs one read
/// per window rather than one per batch.
pub(crate) struct WindowReader<'a> {
    file: &'a dyn StorageFile,
    limit: u64,
    start: u64,
    buf: Vec<u8>,
}

const WINDOW: usize = 256 * 1024;

impl<'a> WindowReader<'a> {
    pub(crate) fn new(file: &'a dyn StorageFile, limit: u64) -> WindowReader<'a> {
        WindowReader {
            file,
            limit,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// The bytes `[pos, pos + len)`, or fewer if the limit comes first.
    pub(crate) fn get(&mut self, pos: u64, len: usize) -> std::io::Result<&[u8]> {
        let end = (pos + len as u64).min(self.limit);
        if pos < self.start || end > self.start + self.buf.len() as u64 {
            let want = (end - pos).max(WINDOW as u64).min(self.limit - pos) as usize;
            self.buf.resize(want, 0);
            let n = self.file.read_at(&mut self.buf, pos)?;
            self.buf.truncate(n);
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        let to = ((end - self.start) as usize).min(self.buf.len());
        Ok(&self.buf[from.min(to)..to])
    }
}

/// Walks the batch headers of a segment from a batch boundary, reading through a window.
/// The bytes it reads are below the segment size seen when it was made, so immutable.
pub(crate) struct Scanner<'a> {
    reader: WindowReader<'a>,
    path: &'a Path,
    pos: u64,
    end: u64,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(file: &'a dyn StorageFile, path: &'a Path, start: u64, end: u64) -> Self {
        Scanner {
            reader: WindowReader::new(file, end),
            path,
            pos: start,
            end,
        }
    }

    /// The next batch's position and header, or `None` at the end.
    pub(crate) fn next_header(&mut self) -> Result<Option<(u64, BatchHeader)>, LogError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let pos = self.pos;
        let head = self
            .reader
            .get(pos, HEADER_LEN)
            .map_err(io_err("read segment", self.path))?;
        let header = parse_header_only(head).ok_or_else(|| LogError::Corrupt {
            path: self.path.to_path_buf(),
            position: pos,
        })?;
        self.pos = pos + header.total_len() as u64;
        Ok(Some((pos, header)))
    }

    /// The whole batch at `pos`, whose header `next_header` returned.
    pub(crate) fn batch(&mut self, pos: u64, header: &BatchHeader) -> Result<&[u8], LogError> {
        self.reader
            .get(pos, header.total_len())
            .map_err(io_err("read segment", self.path))
    }
}

/// Why a scan stopped before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Fewer bytes than a header or than the batch length claims: a torn write.
    Torn,
    /// Length, magic, CRC or offsets are wrong.
    Corrupt(&'static str),
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) file: Arc<dyn StorageFile>,
    path: PathBuf,
    /// Bytes of whole batches.
    pub(crate) size: u64,
    /// Offset after the last batch (`base_offset` when empty).
    pub(crate) next_offset: i64,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    bytes_since_index: u64,
    /// Largest batch max timestamp, -1 when empty.
    pub(crate) max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp`.
    pub(crate) offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch: the age of the segment for `segment.ms`, as Kafka.
    pub(crate) first_batch_timestamp: Option<i64>,
    /// Wall-clock time this segment was created or opened (ms since the epoch): its age for
    /// `segment.ms` when the first batch has no timestamp. As Kafka's `LogSegment.created`,
    /// it is not persisted: a restart starts the count again.
    pub(crate) created_ms: i64,
}

impl Segment {
    pub(crate) fn create(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
    ) -> Result<Segment, LogError> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = storage
            .open(&path, true)
            .map_err(io_err("create segment", &path))?;
        file.set_len(0).map_err(io_err("create segment", &path))?;
        Ok(Segment::empty(base_offset, file, path))
    }

    pub(crate) fn empty(base_offset: i64, file: Arc<dyn StorageFile>, path: PathBuf) -> Segment {
        Segment {
            base_offset,
            file,
            path,
            size: 0,
            next_offset: base_offset,
            index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_batch_timestamp: None,
            created_ms: wall_clock_ms(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A scanner over the batches from byte `start` (a batch boundary) to the current end.
    pub(crate) fn scanner(&self, start: u64) -> Scanner<'_> {
        Scanner::new(self.file.as_ref(), &self.path, start, self.size)
    }

    /// Opens the `.log` file of a segment; returns it and its length.
    fn open_file(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
    ) -> Result<(Arc<dyn StorageFile>, u64, PathBuf), LogError> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = storage
            .open(&path, false)
            .map_err(io_err("open segment", &path))?;
        let len = file.len().map_err(io_err("open segment", &path))?;
        Ok((file, len, path))
    }

    /// Opens an existing segment. With `verify`, every batch is checked (length, magic, CRC,
    /// contiguous offsets) and the file is truncated at the first bad one; otherwise only the
    /// headers are read to rebuild what the indexes do not give. Returns the segment and the
    /// damage that was cut off, if any.
    pub(crate) fn open(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
        verify: bool,
        index_interval_bytes: u64,
    ) -> Result<(Segment, Option<(u64, Damage)>), LogError> {
        let (file, len, path) = Segment::open_file(storage, dir, base_offset)?;
        let mut segment = Segment::empty(base_offset, file, path.clone());
        let damage = segment.scan(len, verify, index_interval_bytes)?;
        if let Some((at, _)) = damage {
            segment
                .file
                .set_len(at)
                .map_err(io_err("truncate segment", &path))?;
        }
        Ok((segment, damage))
    }

    /// Walks the batches of the file from 0, rebuilding size, offsets, timestamps and indexes.
    fn scan(
        &mut self,
        len: u64,
        verify: bool,
        index_interval_bytes: u64,
    ) -> Result<Option<(u64, Damage)>, LogError> {
        let file = Arc::clone(&self.file);
        let mut reader = WindowReader::new(file.as_ref(), len);
        let mut pos = 0u64;
        let mut expected = self.base_offset;
        while pos < len {
            let head = reader
                .get(pos, HEADER_LEN)
                .map_err(io_err("scan segment", &self.path))?;
            if head.len() < LOG_OVERHEAD {
                return Ok(Some((pos, Damage::Torn)));
            }
            let total = match batch::batch_size(head) {
                Some(Ok(total)) => total,
                Some(Err(_)) => return Ok(Some((pos, Damage::Corrupt("batch length")))),
                None => return Ok(Some((pos, Damage::Torn))),
            };
            if pos + total as u64 > len {
                return Ok(Some((pos, Damage::Torn)));
            }
            let header = if verify {
                let bytes = reader
                    .get(pos, total)
                    .map_err(io_err("scan segment", &self.path))?;
                let header = match BatchHeader::parse(bytes) {
                    Ok(h) => h,
                    Err(_) => return Ok(Some((pos, Damage::Corrupt("batch header")))),
                };
                if batch::verify_crc(bytes, &header).is_err() {
                    return Ok(Some((pos, Damage::Corrupt("crc"))));
                }
                header
            } else {
                let head = reader
                    .get(pos, HEADER_LEN)
                    .map_err(io_err("scan segment", &self.path))?;
                // Parse needs the whole batch present; the header fields are all we read.
                match parse_header_only(head) {
                    Some(h) => h,
                    None => return Ok(Some((pos, Damage::Corrupt("batch header")))),
                }
            };
            if header.base_offset != expected || header.last_offset_delta < 0 {
                return Ok(Some((pos, Damage::Corrupt("offsets"))));
            }
            self.note_batch(&header, pos, total as u64, index_interval_bytes);
            expected = header.last_offset() + 1;
            pos += total as u64;
        }
        Ok(None)
    }

    /// Records a batch written at `position` in the in-memory state and indexes.
    fn note_batch(
        &mut self,
        header: &BatchHeader,
        position: u64,
        total: u64,
        index_interval_bytes: u64,
    ) {
        let relative = (header.base_offset - self.base_offset) as u32;
        if self.bytes_since_index >= index_interval_bytes {
            self.index.push(relative, position as u32);
            self.time_index.maybe_push(
                self.max_timestamp,
                (self.offset_of_max_timestamp - self.base_offset) as u32,
            );
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += total;
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset;
        }
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(header.max_timestamp);
        }
        self.size = position + total;
        self.next_offset = header.last_offset() + 1;
    }

    /// Appends a batch whose first 16 bytes are `head` (base offset, length and leader epoch
    /// already patched) and whose remaining bytes are `rest`.
    pub(crate) fn append(
        &mut self,
        head: &[u8; 16],
        rest: &[u8],
        header: &BatchHeader,
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        let position = self.size;
        self.file
            .write_all_vectored_at(&[head, rest], position)
            .map_err(io_err("append", &self.path))?;
        self.note_batch(
            header,
            position,
            (head.len() + rest.len()) as u64,
            index_interval_bytes,
        );
        Ok(())
    }

    /// Writes both index files (at roll and clean shutdown).
    pub(crate) fn write_indexes(&self, storage: &dyn Storage, dir: &Path) -> Result<(), LogError> {
        for (suffix, bytes) in [
            ("index", self.index.encode()),
            ("timeindex", self.time_index.encode()),
        ] {
            let path = dir.join(file_name(self.base_offset, suffix));
            let f = storage
                .open(&path, true)
                .map_err(io_err("write index", &path))?;
            f.set_len(0)
                .and_then(|()| f.write_all_at(&bytes, 0))
                .map_err(io_err("write index", &path))?;
        }
        Ok(())
    }

    /// Opens a segment after a clean shutdown: trusts the file length and loads the index
    /// files; rebuilds from a header scan when an index is missing or inconsistent.
    pub(crate) fn open_clean(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
    ) -> Result<(Segment, Option<(u64, Damage)>), LogError> {
        let (file, len, path) = Segment::open_file(storage, dir, base_offset)?;
        let index = crate::storage::read_file(storage, &dir.join(file_name(base_offset, "index")))
            .ok()
            .and_then(|b| OffsetIndex::decode(&b, len));
        let time_index =
            crate::storage::read_file(storage, &dir.join(file_name(base_offset, "timeindex"))).ok();
        let mut segment = Segment::empty(base_offset, file, path);
        let (Some(index), Some(time_bytes)) = (index, time_index) else {
            drop(segment);
            return Segment::open(storage, dir, base_offset, false, index_interval_bytes);
        };
        // Read only the tail after the last index entry to learn the end offset, the max
        // timestamp of the tail and the first batch timestamp.
        let start = index.last().map_or(0, |(_, p)| u64::from(p));
        let tail = segment.scan_tail(start, len)?;
        let Some(tail) = tail else {
            return Segment::open(storage, dir, base_offset, false, index_interval_bytes);
        };
        let relative_end = (segment.next_offset - base_offset).max(0) as u32;
        let Some(time_index) = TimeIndex::decode(&time_bytes, relative_end) else {
            return Segment::open(storage, dir, base_offset, false, index_interval_bytes);
        };
        // The time index's last entry carries the largest timestamp of the batches the tail
        // scan skipped.
        if let Some((t, o)) = time_index.last() {
            if t > segment.max_timestamp {
                segment.max_timestamp = t;
                segment.offset_of_max_timestamp = base_offset + i64::from(o);
            }
        }
        segment.index = index;
        segment.time_index = time_index;
        segment.bytes_since_index = tail;
        Ok((segment, None))
    }

    /// Scans headers from `start` (a batch boundary from the index) to `len`; fills size,
    /// next offset, timestamps. Returns bytes since the last index entry, or `None` when the
    /// tail does not line up (then the caller rescans the whole file).
    fn scan_tail(&mut self, start: u64, len: u64) -> Result<Option<u64>, LogError> {
        let file = Arc::clone(&self.file);
        let mut reader = WindowReader::new(file.as_ref(), len);
        // First batch timestamp and the max timestamp need the file's first batch and all
        // batches; the time index gives the max up to its last entry.
        if len >= HEADER_LEN as u64 {
            let head = reader
                .get(0, HEADER_LEN)
                .map_err(io_err("open segment", &self.path))?;
            if let Some(h) = parse_header_only(head) {
                self.first_batch_timestamp = Some(h.max_timestamp);
                self.max_timestamp = h.max_timestamp;
                self.offset_of_max_timestamp = h.base_offset;
            }
        }
        let mut pos = start;
        while pos < len {
            let head = reader
                .get(pos, HEADER_LEN)
                .map_err(io_err("open segment", &self.path))?;
            let Some(h) = parse_header_only(head) else {
                return Ok(None);
            };
            if pos == start && start > 0 && h.base_offset < self.base_offset {
                return Ok(None);
            }
            let total = h.total_len() as u64;
            if pos + total > len || h.last_offset_delta < 0 {
                return Ok(None);
            }
            if h.max_timestamp > self.max_timestamp {
                self.max_timestamp = h.max_timestamp;
                self.offset_of_max_timestamp = h.base_offset;
            }
            self.next_offset = h.last_offset() + 1;
            pos += total;
        }
        self.size = len;
        Ok(Some(len - start))
    }

    /// Deletes the segment's files.
    pub(crate) fn delete_files(&self, storage: &dyn Storage, dir: &Path) -> Result<(), LogError> {
        for suffix in ["log", "index", "timeindex"] {
            let path = dir.join(file_name(self.base_offset, suffix));
            match storage.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("delete segment", &path)(e)),
            }
        }
        Ok(())
    }
}

/// Milliseconds since the epoch by the system clock (0 if the clock is before 1970).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Parses the 61-byte header without requiring the whole batch in the buffer.
pub(crate) fn parse_header_only(head: &[u8]) -> Option<BatchHeader> {
    BatchHeader::parse_prefix(head).ok()
}
