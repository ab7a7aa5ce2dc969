//! Reading an incoming zip's structure: end record, central directory, local headers.
//!
//! Written here rather than taken from the `zip` crate's reader because the checks need what
//! that reader hides or folds away: every entry including duplicate names, exact offsets for
//! the overlap check, and the local header of each entry compared with its central record
//! (two headers naming different files is how scanners are fooled). Nothing is decompressed
//! here, and memory is bounded by the entry limit, checked before the directory is read.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::ZipInputError;
use super::format::{MAX16, MAX32};

const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const END_LEN: u64 = 22;
const LOCATOR_LEN: u64 = 20;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
/// AES encryption (WinZip) shows up as this method rather than the encryption flag.
const METHOD_AES: u16 = 99;

/// One entry as the central directory (and its local header) describe it.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: String,
    pub method: u16,
    pub encrypted: bool,
    pub crc32: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    pub header_offset: u64,
    pub data_start: u64,
}

impl RawEntry {
    pub fn data_end(&self) -> u64 {
        self.data_start.saturating_add(self.compressed)
    }
}

/// The zip's size and its entries in central-directory order.
#[derive(Debug)]
pub(crate) struct Listing {
    pub zip_bytes: u64,
    pub entries: Vec<RawEntry>,
}

/// Compression methods the entry reader can decode: stored and deflate.
pub(crate) fn is_supported_method(method: u16) -> bool {
    method == 0 || method == 8
}

/// Where the central directory is, from the end records.
#[derive(Debug, Clone, Copy)]
struct DirectoryEnd {
    count: u64,
    size: u64,
    offset: u64,
    /// Where the records that follow the directory begin (Zip64 end record or classic end).
    end_start: u64,
}

/// Reads and checks the structure of the zip at `path`.
pub(crate) fn read_directory(path: &Path, max_entries: u64) -> Result<Listing, ZipInputError> {
    let mut file =
        crate::store::local::open_regular(path).map_err(|source| ZipInputError::Open {
            zip: path.to_path_buf(),
            source,
        })?;
    let ctx = Ctx { path };
    let zip_bytes = file.metadata().map_err(|e| ctx.io(e))?.len();
    let end = find_end(&mut file, zip_bytes, &ctx)?;
    if end.count > max_entries {
        return Err(ZipInputError::TooManyEntries {
            zip: path.to_path_buf(),
            count: end.count,
            limit: max_entries,
        });
    }
    let mut entries = read_central(&mut file, end, &ctx)?;
    for e in &mut entries {
        locate_data(&mut file, e, end.offset, &ctx)?;
    }
    Ok(Listing { zip_bytes, entries })
}

/// Error helpers that know which zip they are about.
struct Ctx<'p> {
    path: &'p Path,
}

impl Ctx<'_> {
    fn corrupt(&self, detail: impl Into<String>) -> ZipInputError {
        ZipInputError::Corrupt {
            zip: self.path.to_path_buf(),
            detail: detail.into(),
        }
    }

    fn corrupt_entry(&self, entry: &str, detail: impl Into<String>) -> ZipInputError {
        ZipInputError::CorruptEntry {
            zip: self.path.to_path_buf(),
            entry: entry.to_string(),
            detail: detail.into(),
        }
    }

    fn io(&self, e: std::io::Error) -> ZipInputError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            self.corrupt("it ends in the middle of a record")
        } else {
            ZipInputError::Open {
                zip: self.path.to_path_buf(),
                source: e,
            }
        }
    }
}

/// Finds the end record (searching back over a possible comment) and, if present, Zip64's.
fn find_end(file: &mut File, len: u64, ctx: &Ctx) -> Result<DirectoryEnd, ZipInputError> {
    let tail_len = len.min(END_LEN + u64::from(u16::MAX));
    let tail = read_at(file, len - tail_len, tail_len as usize, ctx)?;
    let at = (0..tail.len().saturating_sub(END_LEN as usize - 1))
        .rev()
        .find(|&i| {
            le32(&tail, i) == END_SIG
                && i + END_LEN as usize + usize::from(le16(&tail, i + 20)) == tail.len()
        })
        .ok_or_else(|| {
            ctx.corrupt("there is no end-of-central-directory record (not a zip, or cut short)")
        })?;
    let end_pos = len - tail_len + at as u64;
    let rec = &tail[at..];
    if le16(rec, 4) != 0 || le16(rec, 6) != 0 {
        return Err(
            ctx.corrupt("it is split across several files (multi-disk zips are not supported)")
        );
    }
    let classic = DirectoryEnd {
        count: u64::from(le16(rec, 10)),
        size: u64::from(le32(rec, 12)),
        offset: u64::from(le32(rec, 16)),
        end_start: end_pos,
    };
    let end = match zip64_end(file, end_pos, ctx)? {
        Some(z) => z,
        None if classic.count == MAX16 || classic.size == MAX32 || classic.offset == MAX32 => {
            return Err(ctx.corrupt("its end record points to a Zip64 record that is missing"));
        }
        None => classic,
    };
    if end.offset.checked_add(end.size) != Some(end.end_start) {
        return Err(ctx.corrupt("the central directory is not where the end record says (the file was altered, or has data before the zip)"));
    }
    if end.count.saturating_mul(CENTRAL_LEN as u64) > end.size {
        return Err(
            ctx.corrupt("the end record claims more entries than the central directory holds")
        );
    }
    Ok(end)
}

/// Reads the Zip64 end record when a locator sits just before the classic end record.
fn zip64_end(
    file: &mut File,
    end_pos: u64,
    ctx: &Ctx,
) -> Result<Option<DirectoryEnd>, ZipInputError> {
    if end_pos < LOCATOR_LEN {
        return Ok(None);
    }
    let loc = read_at(file, end_pos - LOCATOR_LEN, LOCATOR_LEN as usize, ctx)?;
    if le32(&loc, 0) != ZIP64_LOCATOR_SIG {
        return Ok(None);
    }
    let at = le64(&loc, 8);
    if at.checked_add(56).is_none_or(|e| e > end_pos - LOCATOR_LEN) {
        return Err(ctx.corrupt("its Zip64 locator points outside the file"));
    }
    let rec = read_at(file, at, 56, ctx)?;
    if le32(&rec, 0) != ZIP64_END_SIG {
        return Err(ctx.corrupt("its Zip64 end record is missing where the locator points"));
    }
    Ok(Some(DirectoryEnd {
        count: le64(&rec, 32),
        size: le64(&rec, 40),
        offset: le64(&rec, 48),
        end_start: at,
    }))
}

/// Parses every central directory header, streaming (the directory is never held whole).
fn read_central(
    file: &mut File,
    end: DirectoryEnd,
    ctx: &Ctx,
) -> Result<Vec<RawEntry>, ZipInputError> {
    file.seek(SeekFrom::Start(end.offset))
        .map_err(|e| ctx.io(e))?;
    let mut r = BufReader::with_capacity(64 * 1024, (&mut *file).take(end.size));
    let mut entries = Vec::with_capacity(end.count.min(4096) as usize);
    for _ in 0..end.count {
        entries.push(read_central_entry(&mut r, ctx)?);
    }
    Ok(entries)
}

fn read_central_entry(r: &mut impl Read, ctx: &Ctx) -> Result<RawEntry, ZipInputError> {
    let mut h = [0u8; CENTRAL_LEN];
    r.read_exact(&mut h)
        .map_err(|_| ctx.corrupt("the central directory is truncated"))?;
    if le32(&h, 0) != CENTRAL_SIG {
        return Err(
            ctx.corrupt("the central directory holds something that is not an entry header")
        );
    }
    let (name_len, extra_len, comment_len) = (le16(&h, 28), le16(&h, 30), le16(&h, 32));
    let name_raw = read_vec(r, usize::from(name_len), ctx)?;
    let extra = read_vec(r, usize::from(extra_len), ctx)?;
    read_vec(r, usize::from(comment_len), ctx)?;
    let name = decode_name(&name_raw);
    let flags = le16(&h, 8);
    let method = le16(&h, 10);
    let mut entry = RawEntry {
        encrypted: flags & 1 != 0 || method == METHOD_AES,
        method,
        crc32: le32(&h, 16),
        compressed: u64::from(le32(&h, 20)),
        uncompressed: u64::from(le32(&h, 24)),
        header_offset: u64::from(le32(&h, 42)),
        data_start: 0,
        name,
    };
    apply_zip64_extra(&mut entry, &extra).map_err(|d| ctx.corrupt_entry(&entry.name, d))?;
    Ok(entry)
}

/// Zip64 values replace the 32-bit fields that hold the marker, in APPNOTE's fixed order.
fn apply_zip64_extra(e: &mut RawEntry, extra: &[u8]) -> Result<(), &'static str> {
    let wanted = [
        e.uncompressed == MAX32,
        e.compressed == MAX32,
        e.header_offset == MAX32,
    ];
    if !wanted.iter().any(|&w| w) {
        return Ok(());
    }
    let field = find_extra(extra, 0x0001)
        .ok_or("a size or offset is marked as Zip64 but there is no Zip64 field")?;
    let mut values = field.chunks_exact(8).map(|c| le64(c, 0));
    let mut next = |want: bool, slot: &mut u64| -> Result<(), &'static str> {
        if want {
            *slot = values.next().ok_or("its Zip64 field is too short")?;
        }
        Ok(())
    };
    next(wanted[0], &mut e.uncompressed)?;
    next(wanted[1], &mut e.compressed)?;
    next(wanted[2], &mut e.header_offset)
}

/// The body of the extra field with `id`, if any.
fn find_extra(mut extra: &[u8], id: u16) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let (this, len) = (le16(extra, 0), usize::from(le16(extra, 2)));
        let body = extra.get(4..4 + len)?;
        if this == id {
            return Some(body);
        }
        extra = &extra[4 + len..];
    }
    None
}

/// Names are UTF-8 in practice (flagged or not); anything else is shown with replacement
/// characters, which is enough for messages and harmless for CSVs (Canvas ignores names).
fn decode_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Checks the entry's local header and records where its data starts.
fn locate_data(
    file: &mut File,
    e: &mut RawEntry,
    cd_offset: u64,
    ctx: &Ctx,
) -> Result<(), ZipInputError> {
    if e.header_offset.saturating_add(LOCAL_LEN as u64) > cd_offset {
        return Err(ctx.corrupt_entry(&e.name, "its local header lies outside the data area"));
    }
    let h = read_at(file, e.header_offset, LOCAL_LEN, ctx)?;
    if le32(&h, 0) != LOCAL_SIG {
        return Err(ctx.corrupt_entry(
            &e.name,
            "there is no local header where the central directory points",
        ));
    }
    let (name_len, extra_len) = (u64::from(le16(&h, 26)), u64::from(le16(&h, 28)));
    let local_name = read_at(
        file,
        e.header_offset + LOCAL_LEN as u64,
        name_len as usize,
        ctx,
    )?;
    if decode_name(&local_name) != e.name {
        return Err(ctx.corrupt_entry(
            &e.name,
            "its local header names a different file than the central directory",
        ));
    }
    e.data_start = e.header_offset + LOCAL_LEN as u64 + name_len + extra_len;
    if e.data_end() > cd_offset {
        return Err(ctx.corrupt_entry(
            &e.name,
            "its data runs past the start of the central directory (cut short?)",
        ));
    }
    Ok(())
}

fn read_at(file: &mut File, at: u64, len: usize, ctx: &Ctx) -> Result<Vec<u8>, ZipInputError> {
    file.seek(SeekFrom::Start(at)).map_err(|e| ctx.io(e))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(|e| ctx.io(e))?;
    Ok(buf)
}

fn read_vec(r: &mut impl Read, len: usize, ctx: &Ctx) -> Result<Vec<u8>, ZipInputError> {
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .map_err(|_| ctx.corrupt("the central directory is truncated"))?;
    Ok(buf)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(u: u64, c: u64, off: u64) -> RawEntry {
        RawEntry {
            name: "a.csv".into(),
            method: 8,
            encrypted: false,
            crc32: 0,
            compressed: c,
            uncompressed: u,
            header_offset: off,
            data_start: 0,
        }
    }

    #[test]
    fn zip64_extra_values_replace_only_the_marked_fields_in_order() {
        let mut e = entry(MAX32, 10, MAX32);
        let mut extra = vec![0x99, 0x99, 0, 0]; // an unrelated empty field first
        extra.extend_from_slice(&[1, 0, 16, 0]);
        extra.extend_from_slice(&(6u64 << 30).to_le_bytes());
        extra.extend_from_slice(&(5u64 << 30).to_le_bytes());
        apply_zip64_extra(&mut e, &extra).unwrap();
        assert_eq!(
            (e.uncompressed, e.compressed, e.header_offset),
            (6 << 30, 10, 5 << 30)
        );
    }

    #[test]
    fn a_marked_field_without_its_zip64_value_is_corrupt() {
        let mut e = entry(MAX32, MAX32, 0);
        let mut extra = vec![1, 0, 8, 0];
        extra.extend_from_slice(&7u64.to_le_bytes());
        assert_eq!(
            apply_zip64_extra(&mut e, &extra),
            Err("its Zip64 field is too short")
        );
        assert!(apply_zip64_extra(&mut entry(MAX32, 1, 0), &[]).is_err());
    }
}
