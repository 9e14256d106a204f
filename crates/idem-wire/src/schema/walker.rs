//! The schema vocabulary and the structural walker that reads a body against it.
//!
//! The walker only validates structure: where each length-prefixed value starts and ends, and
//! that every length and count fits in what is left. It builds no value, allocates nothing
//! and never recurses deeper than [`MAX_DEPTH`]. Each rule below mirrors what the decoders of
//! `kafka-protocol` 0.18.0 (`src/protocol/types.rs` and the generated `src/messages/*.rs`) do
//! with the same bytes, so that a body the walker accepts decodes there without surprises.

use super::BodyError;

/// Deepest struct nesting the walker follows. The schemas nest at most four levels; the bound
/// guards against a table mistake ever turning into unbounded recursion.
pub(crate) const MAX_DEPTH: usize = 8;

/// An inclusive range of versions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Versions {
    pub(crate) min: i16,
    pub(crate) max: i16,
}

impl Versions {
    pub(crate) const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// Every version of the struct the field belongs to.
pub(crate) const ALL: Versions = Versions {
    min: 0,
    max: i16::MAX,
};

/// Versions `min` and later.
pub(crate) const fn since(min: i16) -> Versions {
    Versions { min, max: i16::MAX }
}

/// Versions up to and including `max`.
pub(crate) const fn until(max: i16) -> Versions {
    Versions { min: 0, max }
}

/// Versions `min` to `max`, both included.
pub(crate) const fn between(min: i16, max: i16) -> Versions {
    Versions { min, max }
}

/// The wire type of a field. Whether strings, bytes and arrays use the compact encoding
/// (unsigned varint of length + 1) or the classic one (int16/int32 length) is not part of the
/// type: it follows from whether the struct is flexible at the version being read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// A fixed-width scalar: int8..int64, uint16, float64, bool or uuid; the width in bytes.
    Fixed(u8),
    /// A UTF-8 string; `kafka-protocol` rejects null unless the Rust field is an `Option`.
    Str { nullable: bool },
    /// Bytes, including record sets (which are nullable bytes on the wire).
    Bytes { nullable: bool },
    /// An array.
    Array { elem: Elem, nullable: bool },
    /// A nested struct that is not in an array (never null on the wire).
    Struct(&'static Struct),
}

/// The element type of an array.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Elem {
    Fixed(u8),
    /// Non-nullable strings (every string array `kafka-protocol` knows is `Vec<non-null>`).
    Str,
    Struct(&'static Struct),
}

pub(crate) const I8: Ty = Ty::Fixed(1);
pub(crate) const I16: Ty = Ty::Fixed(2);
#[allow(dead_code)] // No covered message has one yet; kept so the vocabulary is complete.
pub(crate) const U16: Ty = Ty::Fixed(2);
pub(crate) const I32: Ty = Ty::Fixed(4);
pub(crate) const I64: Ty = Ty::Fixed(8);
#[allow(dead_code)] // Likewise.
pub(crate) const F64: Ty = Ty::Fixed(8);
pub(crate) const BOOL: Ty = Ty::Fixed(1);
pub(crate) const UUID: Ty = Ty::Fixed(16);
pub(crate) const STR: Ty = Ty::Str { nullable: false };
pub(crate) const NSTR: Ty = Ty::Str { nullable: true };
pub(crate) const BYTES: Ty = Ty::Bytes { nullable: false };
pub(crate) const NBYTES: Ty = Ty::Bytes { nullable: true };
/// Record sets: `kafka-protocol` decodes them as nullable bytes and never looks inside.
pub(crate) const RECORDS: Ty = NBYTES;
pub(crate) const I32_ARRAY: Ty = Ty::Array {
    elem: Elem::Fixed(4),
    nullable: false,
};
pub(crate) const STR_ARRAY: Ty = Ty::Array {
    elem: Elem::Str,
    nullable: false,
};
pub(crate) const NSTR_ARRAY: Ty = Ty::Array {
    elem: Elem::Str,
    nullable: true,
};

/// An array of structs.
pub(crate) const fn array(s: &'static Struct) -> Ty {
    Ty::Array {
        elem: Elem::Struct(s),
        nullable: false,
    }
}

/// A nullable array of structs.
pub(crate) const fn narray(s: &'static Struct) -> Ty {
    Ty::Array {
        elem: Elem::Struct(s),
        nullable: true,
    }
}

/// A nested struct.
pub(crate) const fn nested(s: &'static Struct) -> Ty {
    Ty::Struct(s)
}

/// A field of a struct, in wire order.
#[derive(Debug)]
pub(crate) struct Field {
    /// Dotted path from the message root, for errors.
    pub(crate) path: &'static str,
    /// Versions in which the field is on the wire.
    pub(crate) versions: Versions,
    pub(crate) ty: Ty,
}

/// A field with the given path, versions and type.
pub(crate) const fn f(path: &'static str, versions: Versions, ty: Ty) -> Field {
    Field { path, versions, ty }
}

/// A tagged field `kafka-protocol` knows. It decodes the value from the main buffer and
/// ignores the size that precedes it; outside `versions` the tag makes it fail.
#[derive(Debug)]
pub(crate) struct Tag {
    pub(crate) tag: u32,
    pub(crate) path: &'static str,
    pub(crate) versions: Versions,
    pub(crate) ty: Ty,
}

/// A known tagged field.
pub(crate) const fn tag(tag: u32, path: &'static str, versions: Versions, ty: Ty) -> Tag {
    Tag {
        tag,
        path,
        versions,
        ty,
    }
}

/// A struct: a message root or a nested struct.
#[derive(Debug)]
pub(crate) struct Struct {
    /// Dotted path of the struct from the message root (the message name at the root).
    pub(crate) path: &'static str,
    /// Versions `kafka-protocol` accepts for this struct; it fails outside them.
    pub(crate) versions: Versions,
    /// First flexible version (compact encodings and a tagged-field section), if any.
    pub(crate) flexible: Option<i16>,
    pub(crate) fields: &'static [Field],
    pub(crate) tags: &'static [Tag],
}

impl Struct {
    fn is_flexible(&self, version: i16) -> bool {
        self.flexible.is_some_and(|first| version >= first)
    }
}

/// Walks `body` as the struct `root` at `version`; returns the number of bytes the message
/// occupies (bytes after it are left alone, as `kafka-protocol` leaves them).
pub(crate) fn walk(root: &'static Struct, version: i16, body: &[u8]) -> Result<usize, BodyError> {
    let mut reader = Reader { body, pos: 0 };
    walk_struct(&mut reader, root, version, 0)?;
    Ok(reader.pos)
}

/// A cursor over the body. Every read is bounds-checked; `pos <= body.len()` always holds.
struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.body.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], BodyError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(BodyError::Truncated { field })?;
        let bytes = self
            .body
            .get(self.pos..end)
            .ok_or(BodyError::Truncated { field })?;
        self.pos = end;
        Ok(bytes)
    }

    /// Skips a length that came off the wire: too long is `TooLong`, not `Truncated`.
    fn skip_claimed(&mut self, n: u64, field: &'static str) -> Result<&'a [u8], BodyError> {
        let remaining = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= remaining => self.take(n, field),
            _ => Err(too_long(field, n, remaining)),
        }
    }

    fn bytes<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], BodyError> {
        let bytes = self.take(N, field)?;
        bytes.try_into().map_err(|_| BodyError::Truncated { field })
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, BodyError> {
        self.bytes(field).map(i16::from_be_bytes)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, BodyError> {
        self.bytes(field).map(i32::from_be_bytes)
    }

    /// An unsigned varint of at most five bytes whose value fits in 32 bits.
    /// `kafka-protocol` stops after five bytes whatever the fifth says and drops the bits past
    /// 32; such encodings come from no honest peer, so they are refused here.
    fn uvarint(&mut self, field: &'static str) -> Result<u32, BodyError> {
        let mut value: u32 = 0;
        for i in 0..5u32 {
            let [b] = self.bytes(field)?;
            if i == 4 && b > 0x0f {
                return Err(BodyError::Malformed { field });
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        // Unreachable: the fifth byte is either refused above or ends the varint.
        Err(BodyError::Malformed { field })
    }

    /// A length or count: `Ok(None)` for null. Classic encodings use -1 for null and refuse
    /// anything lower; compact ones use 0 for null and store the length plus one.
    fn length(
        &mut self,
        compact: bool,
        wide: bool,
        field: &'static str,
    ) -> Result<Option<u64>, BodyError> {
        if compact {
            return Ok(match self.uvarint(field)? {
                0 => None,
                n => Some(u64::from(n) - 1),
            });
        }
        let n = if wide {
            self.i32(field)?
        } else {
            i32::from(self.i16(field)?)
        };
        match n {
            -1 => Ok(None),
            n => u64::try_from(n)
                .map(Some)
                .map_err(|_| BodyError::Malformed { field }),
        }
    }
}

fn too_long(field: &'static str, claimed: u64, remaining: usize) -> BodyError {
    BodyError::TooLong {
        field,
        claimed: i64::try_from(claimed).unwrap_or(i64::MAX),
        remaining,
    }
}

fn invalid(field: &'static str, reason: &'static str) -> BodyError {
    BodyError::Invalid { field, reason }
}

fn walk_struct(
    r: &mut Reader<'_>,
    s: &'static Struct,
    version: i16,
    depth: usize,
) -> Result<(), BodyError> {
    if depth > MAX_DEPTH {
        return Err(invalid(s.path, "nested too deep"));
    }
    if !s.versions.contains(version) {
        return Err(invalid(s.path, "struct not defined at this version"));
    }
    let flexible = s.is_flexible(version);
    for field in s.fields.iter().filter(|f| f.versions.contains(version)) {
        walk_ty(r, field.path, field.ty, flexible, version, depth)?;
    }
    if flexible {
        walk_tags(r, s, version, depth)?;
    }
    Ok(())
}

/// The tagged-field section: a count, then (tag, size, value) triples.
fn walk_tags(
    r: &mut Reader<'_>,
    s: &'static Struct,
    version: i16,
    depth: usize,
) -> Result<(), BodyError> {
    let count = r.uvarint(s.path)?;
    // Each entry takes at least two bytes (tag and size varints); refusing an impossible
    // count early keeps the loop bounded by the body length.
    let remaining = r.remaining();
    if u64::from(count).saturating_mul(2) > remaining as u64 {
        return Err(too_long(s.path, u64::from(count), remaining));
    }
    for _ in 0..count {
        let number = r.uvarint(s.path)?;
        let size = r.uvarint(s.path)?;
        match s.tags.iter().find(|t| t.tag == number) {
            Some(known) if known.versions.contains(version) => {
                // Mirrors kafka-protocol: a known tag's value is decoded in place and its
                // size is not checked against what the value really took.
                walk_ty(r, known.path, known.ty, true, version, depth)?;
            }
            Some(known) => return Err(invalid(known.path, "tag not valid at this version")),
            None => {
                r.skip_claimed(u64::from(size), s.path)?;
            }
        }
    }
    Ok(())
}

fn walk_ty(
    r: &mut Reader<'_>,
    path: &'static str,
    ty: Ty,
    flexible: bool,
    version: i16,
    depth: usize,
) -> Result<(), BodyError> {
    match ty {
        Ty::Fixed(width) => r.take(usize::from(width), path).map(drop),
        Ty::Str { nullable } => walk_str(r, path, nullable, flexible),
        Ty::Bytes { nullable } => match r.length(flexible, true, path)? {
            None if !nullable => Err(BodyError::Malformed { field: path }),
            None => Ok(()),
            Some(n) => r.skip_claimed(n, path).map(drop),
        },
        Ty::Array { elem, nullable } => {
            let count = match r.length(flexible, true, path)? {
                None if !nullable => return Err(BodyError::Malformed { field: path }),
                None => return Ok(()),
                Some(n) => n,
            };
            // kafka-protocol reserves `count` elements before reading any: refuse a count
            // that the remaining bytes cannot hold, each element needing at least its
            // minimum encoded size (and at least one byte, so that even elements that are
            // empty on the wire cannot make it reserve more than the body length).
            let min = elem_min_size(elem, flexible, version, depth).max(1);
            let remaining = r.remaining();
            if count.saturating_mul(min) > remaining as u64 {
                return Err(too_long(path, count, remaining));
            }
            for _ in 0..count {
                match elem {
                    Elem::Fixed(width) => r.take(usize::from(width), path).map(drop)?,
                    Elem::Str => walk_str(r, path, false, flexible)?,
                    Elem::Struct(s) => walk_struct(r, s, version, depth + 1)?,
                }
            }
            Ok(())
        }
        Ty::Struct(s) => walk_struct(r, s, version, depth + 1),
    }
}

fn walk_str(
    r: &mut Reader<'_>,
    path: &'static str,
    nullable: bool,
    flexible: bool,
) -> Result<(), BodyError> {
    match r.length(flexible, false, path)? {
        None if !nullable => Err(BodyError::Malformed { field: path }),
        None => Ok(()),
        Some(n) => {
            let bytes = r.skip_claimed(n, path)?;
            // kafka-protocol refuses strings that are not UTF-8; refuse them here too so
            // that a body accepted here decodes there.
            std::str::from_utf8(bytes).map_err(|_| invalid(path, "string is not UTF-8"))?;
            Ok(())
        }
    }
}

/// The fewest bytes one array element can take on the wire.
fn elem_min_size(elem: Elem, flexible: bool, version: i16, depth: usize) -> u64 {
    match elem {
        Elem::Fixed(width) => u64::from(width),
        Elem::Str => ty_min_size(STR, flexible, version, depth),
        Elem::Struct(s) => struct_min_size(s, version, depth + 1),
    }
}

fn ty_min_size(ty: Ty, flexible: bool, version: i16, depth: usize) -> u64 {
    match ty {
        Ty::Fixed(width) => u64::from(width),
        // A compact length is at least one varint byte; classic ones are int16 or int32.
        Ty::Str { .. } if flexible => 1,
        Ty::Str { .. } => 2,
        Ty::Bytes { .. } | Ty::Array { .. } if flexible => 1,
        Ty::Bytes { .. } | Ty::Array { .. } => 4,
        Ty::Struct(s) => struct_min_size(s, version, depth + 1),
    }
}

fn struct_min_size(s: &'static Struct, version: i16, depth: usize) -> u64 {
    if depth > MAX_DEPTH {
        // Deeper than the walker goes: it will refuse the element anyway.
        return 0;
    }
    let flexible = s.is_flexible(version);
    let fields: u64 = s
        .fields
        .iter()
        .filter(|f| f.versions.contains(version))
        .map(|f| ty_min_size(f.ty, flexible, version, depth))
        .fold(0, u64::saturating_add);
    fields.saturating_add(u64::from(flexible))
}
