//! Byte layouts of the zip records the writer emits (APPNOTE 6.3.x), as pure functions.
//!
//! Kept apart from the I/O so each record, and above all the Zip64 decisions, can be unit
//! tested without writing 4 GiB. Every field that could vary between runs is fixed: the
//! timestamp is 1980-01-01 00:00 (DOS time 0), permissions are `0644`, there are no extra
//! fields except Zip64's, and no comments.

/// Largest value a 32-bit field holds; the value itself is the "look in Zip64" marker.
pub(crate) const MAX32: u64 = 0xFFFF_FFFF;
/// Largest entry count the classic end record holds (same marker rule).
pub(crate) const MAX16: u64 = 0xFFFF;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATE: u16 = 8;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
/// DOS date of 1980-01-01 (year 0 since 1980, month 1, day 1); DOS time 00:00:00 is 0.
const DOS_DATE_1980: u16 = (1 << 5) | 1;
const DOS_TIME_MIDNIGHT: u16 = 0;
/// Made by Unix (3), spec 4.5, so readers take the external attributes as a Unix mode.
const MADE_BY_UNIX: u16 = (3 << 8) | 45;
/// Regular file, `rw-r--r--`, in the high 16 bits as Unix zip tools write it.
const EXTERNAL_ATTRS_FILE_0644: u32 = 0o100_644 << 16;

/// When the writer switches to Zip64 records.
///
/// The default follows the format: only values that do not fit. Tests force Zip64 everywhere
/// to exercise those records with small archives.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Zip64Policy {
    pub force: bool,
}

impl Zip64Policy {
    pub fn needs(self, value: u64) -> bool {
        self.force || value >= MAX32
    }

    pub fn needs_count(self, count: u64) -> bool {
        self.force || count >= MAX16
    }
}

/// Everything the records of one entry say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRecord {
    pub name: String,
    pub method: u16,
    /// The sizes and CRC follow the data in a data descriptor (they are unknown when the local
    /// header is written, and the output is written once, front to back).
    pub descriptor: bool,
    /// Sizes live in Zip64 extra fields (local and central) and the descriptor has 64-bit sizes.
    pub zip64_sizes: bool,
    /// The local header offset lives in the central Zip64 extra field.
    pub zip64_offset: bool,
    pub crc32: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    /// Where the local header starts in the archive.
    pub offset: u64,
}

impl EntryRecord {
    fn flags(&self) -> u16 {
        let utf8 = if self.name.is_ascii() { 0 } else { FLAG_UTF8 };
        let descriptor = if self.descriptor { FLAG_DESCRIPTOR } else { 0 };
        utf8 | descriptor
    }

    fn version_needed(&self) -> u16 {
        if self.zip64_sizes || self.zip64_offset {
            45
        } else if self.method == METHOD_DEFLATE {
            20
        } else {
            10
        }
    }

    /// The local file header. With a descriptor, CRC and sizes are zero here (Zip64: the
    /// 32-bit sizes are the marker and the extra field holds zeros), as APPNOTE 4.4.4 asks.
    pub fn local_header(&self) -> Vec<u8> {
        let (crc, csize, usize_) = if self.descriptor {
            (0, 0, 0)
        } else {
            (self.crc32, self.compressed, self.uncompressed)
        };
        let mut extra = Vec::new();
        if self.zip64_sizes {
            put_u16(&mut extra, ZIP64_EXTRA_ID);
            put_u16(&mut extra, 16);
            put_u64(&mut extra, usize_);
            put_u64(&mut extra, csize);
        }
        let mut b = Vec::with_capacity(30 + self.name.len() + extra.len());
        put_u32(&mut b, LOCAL_SIG);
        put_u16(&mut b, self.version_needed());
        put_u16(&mut b, self.flags());
        put_u16(&mut b, self.method);
        put_u16(&mut b, DOS_TIME_MIDNIGHT);
        put_u16(&mut b, DOS_DATE_1980);
        put_u32(&mut b, crc);
        put_u32(&mut b, self.fit32(csize, self.zip64_sizes));
        put_u32(&mut b, self.fit32(usize_, self.zip64_sizes));
        self.put_name_and_extra(&mut b, &extra);
        b
    }

    /// The data descriptor written after the data (64-bit sizes when the entry is Zip64).
    pub fn data_descriptor(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        put_u32(&mut b, DESCRIPTOR_SIG);
        put_u32(&mut b, self.crc32);
        if self.zip64_sizes {
            put_u64(&mut b, self.compressed);
            put_u64(&mut b, self.uncompressed);
        } else {
            put_u32(&mut b, self.fit32(self.compressed, false));
            put_u32(&mut b, self.fit32(self.uncompressed, false));
        }
        b
    }

    /// The central directory header; Zip64 fields appear in the order APPNOTE 4.5.3 fixes.
    pub fn central_header(&self) -> Vec<u8> {
        let mut extra = Vec::new();
        if self.zip64_sizes || self.zip64_offset {
            let mut fields = Vec::new();
            if self.zip64_sizes {
                put_u64(&mut fields, self.uncompressed);
                put_u64(&mut fields, self.compressed);
            }
            if self.zip64_offset {
                put_u64(&mut fields, self.offset);
            }
            put_u16(&mut extra, ZIP64_EXTRA_ID);
            put_u16(&mut extra, fields.len() as u16);
            extra.extend_from_slice(&fields);
        }
        let mut b = Vec::with_capacity(46 + self.name.len() + extra.len());
        put_u32(&mut b, CENTRAL_SIG);
        put_u16(&mut b, MADE_BY_UNIX);
        put_u16(&mut b, self.version_needed());
        put_u16(&mut b, self.flags());
        put_u16(&mut b, self.method);
        put_u16(&mut b, DOS_TIME_MIDNIGHT);
        put_u16(&mut b, DOS_DATE_1980);
        put_u32(&mut b, self.crc32);
        put_u32(&mut b, self.fit32(self.compressed, self.zip64_sizes));
        put_u32(&mut b, self.fit32(self.uncompressed, self.zip64_sizes));
        put_u16(&mut b, self.name.len() as u16);
        put_u16(&mut b, extra.len() as u16);
        put_u16(&mut b, 0); // comment length
        put_u16(&mut b, 0); // disk number start
        put_u16(&mut b, 0); // internal attributes
        put_u32(&mut b, EXTERNAL_ATTRS_FILE_0644);
        put_u32(&mut b, self.fit32(self.offset, self.zip64_offset));
        b.extend_from_slice(self.name.as_bytes());
        b.extend_from_slice(&extra);
        b
    }

    fn put_name_and_extra(&self, b: &mut Vec<u8>, extra: &[u8]) {
        put_u16(b, self.name.len() as u16);
        put_u16(b, extra.len() as u16);
        b.extend_from_slice(self.name.as_bytes());
        b.extend_from_slice(extra);
    }

    /// The 32-bit field for `value`: the marker when the value lives in Zip64, else the value.
    fn fit32(&self, value: u64, in_zip64: bool) -> u32 {
        if in_zip64 {
            MAX32 as u32
        } else {
            value.min(MAX32) as u32
        }
    }
}

/// The end of the archive: Zip64 end record and locator when needed, then the classic end record.
///
/// `entries`, `cd_size` and `cd_offset` describe the central directory, which starts at
/// `cd_offset` and is followed directly by these records.
pub(crate) fn end_records(
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
    policy: Zip64Policy,
) -> Vec<u8> {
    let zip64 = policy.needs_count(entries) || policy.needs(cd_size) || policy.needs(cd_offset);
    let mut b = Vec::with_capacity(22 + 76);
    if zip64 {
        let zip64_end_offset = cd_offset + cd_size;
        put_u32(&mut b, ZIP64_END_SIG);
        put_u64(&mut b, 44); // size of the rest of this record
        put_u16(&mut b, MADE_BY_UNIX);
        put_u16(&mut b, 45);
        put_u32(&mut b, 0); // this disk
        put_u32(&mut b, 0); // disk with the central directory
        put_u64(&mut b, entries);
        put_u64(&mut b, entries);
        put_u64(&mut b, cd_size);
        put_u64(&mut b, cd_offset);
        put_u32(&mut b, ZIP64_LOCATOR_SIG);
        put_u32(&mut b, 0); // disk with the Zip64 end record
        put_u64(&mut b, zip64_end_offset);
        put_u32(&mut b, 1); // total disks
    }
    // With a Zip64 record present and forced, every classic field is the marker, so a reader
    // that ignored the Zip64 record would fail loudly in tests instead of silently working.
    let count16 = if zip64 && policy.needs_count(entries) {
        MAX16
    } else {
        entries.min(MAX16)
    };
    let size32 = if zip64 && policy.needs(cd_size) {
        MAX32
    } else {
        cd_size.min(MAX32)
    };
    let off32 = if zip64 && policy.needs(cd_offset) {
        MAX32
    } else {
        cd_offset.min(MAX32)
    };
    put_u32(&mut b, END_SIG);
    put_u16(&mut b, 0); // this disk
    put_u16(&mut b, 0); // disk with the central directory
    put_u16(&mut b, count16 as u16);
    put_u16(&mut b, count16 as u16);
    put_u32(&mut b, size32 as u32);
    put_u32(&mut b, off32 as u32);
    put_u16(&mut b, 0); // comment length
    b
}

pub(crate) fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    fn record(uncompressed: u64, compressed: u64, offset: u64, zip64_sizes: bool) -> EntryRecord {
        EntryRecord {
            name: "users.csv".into(),
            method: METHOD_DEFLATE,
            descriptor: true,
            zip64_sizes,
            zip64_offset: Zip64Policy::default().needs(offset),
            crc32: 0xDEAD_BEEF,
            compressed,
            uncompressed,
            offset,
        }
    }

    #[test]
    fn a_small_entry_has_no_zip64_fields_and_a_fixed_1980_timestamp() {
        let r = record(1000, 300, 0, false);
        let local = r.local_header();
        assert_eq!(local.len(), 30 + 9);
        assert_eq!(u16_at(&local, 4), 20);
        assert_eq!(u16_at(&local, 6), FLAG_DESCRIPTOR);
        assert_eq!((u16_at(&local, 10), u16_at(&local, 12)), (0, 0x0021));
        assert_eq!((u32_at(&local, 14), u32_at(&local, 18)), (0, 0));
        let central = r.central_header();
        assert_eq!(central.len(), 46 + 9);
        assert_eq!((u32_at(&central, 20), u32_at(&central, 24)), (300, 1000));
        assert_eq!(u32_at(&central, 38), 0o100_644 << 16);
        assert_eq!(r.data_descriptor().len(), 16);
    }

    #[test]
    fn an_entry_over_4_gib_keeps_its_sizes_in_zip64_fields() {
        let big = 5 * 1024 * 1024 * 1024;
        let r = record(big, big / 4, 0, true);
        let local = r.local_header();
        assert_eq!(u16_at(&local, 4), 45);
        assert_eq!(
            (u32_at(&local, 18), u32_at(&local, 22)),
            (u32::MAX, u32::MAX)
        );
        assert_eq!(
            (u16_at(&local, 30 + 9), u16_at(&local, 30 + 9 + 2)),
            (1, 16)
        );
        let dd = r.data_descriptor();
        assert_eq!(dd.len(), 24);
        assert_eq!((u64_at(&dd, 8), u64_at(&dd, 16)), (big / 4, big));
        let central = r.central_header();
        let extra = 46 + 9;
        assert_eq!(
            (u16_at(&central, extra), u16_at(&central, extra + 2)),
            (1, 16)
        );
        assert_eq!(u64_at(&central, extra + 4), big, "uncompressed comes first");
        assert_eq!(u64_at(&central, extra + 12), big / 4);
        assert_eq!(
            u32_at(&central, 42),
            0,
            "a small offset stays in its 32-bit field"
        );
    }

    #[test]
    fn an_entry_starting_past_4_gib_keeps_only_its_offset_in_zip64() {
        let r = record(10, 12, 6 * 1024 * 1024 * 1024, false);
        let central = r.central_header();
        assert_eq!(u16_at(&central, 6), 45);
        assert_eq!(u32_at(&central, 42), u32::MAX);
        let extra = 46 + 9;
        assert_eq!(u16_at(&central, extra + 2), 8);
        assert_eq!(u64_at(&central, extra + 4), 6 * 1024 * 1024 * 1024);
        assert_eq!(
            u32_at(&central, 20),
            12,
            "sizes stay in their 32-bit fields"
        );
    }

    #[test]
    fn exactly_4_gib_minus_one_already_needs_zip64() {
        let p = Zip64Policy::default();
        assert!(!p.needs(MAX32 - 1));
        assert!(p.needs(MAX32));
        assert!(!p.needs_count(65_534));
        assert!(p.needs_count(65_535));
    }

    #[test]
    fn a_small_archive_ends_with_the_classic_record_only() {
        let end = end_records(3, 200, 1000, Zip64Policy::default());
        assert_eq!(end.len(), 22);
        assert_eq!(u16_at(&end, 10), 3);
        assert_eq!((u32_at(&end, 12), u32_at(&end, 16)), (200, 1000));
    }

    #[test]
    fn an_archive_whose_directory_starts_past_4_gib_gets_zip64_end_records() {
        let cd_offset = 5 * 1024 * 1024 * 1024;
        let end = end_records(3, 200, cd_offset, Zip64Policy::default());
        assert_eq!(end.len(), 56 + 20 + 22);
        assert_eq!(u32_at(&end, 0), ZIP64_END_SIG);
        assert_eq!(u64_at(&end, 48), cd_offset);
        assert_eq!(u32_at(&end, 56), ZIP64_LOCATOR_SIG);
        assert_eq!(
            u64_at(&end, 64),
            cd_offset + 200,
            "locator points at the Zip64 end record"
        );
        let classic = 76;
        assert_eq!(u16_at(&end, classic + 10), 3, "the count still fits");
        assert_eq!(u32_at(&end, classic + 16), u32::MAX);
    }

    #[test]
    fn more_than_65534_entries_need_zip64_end_records() {
        let end = end_records(70_000, 200, 1000, Zip64Policy::default());
        assert_eq!(u64_at(&end, 32), 70_000);
        assert_eq!(u16_at(&end, 76 + 10), u16::MAX);
    }

    #[test]
    fn a_non_ascii_name_sets_the_utf8_flag() {
        let mut r = record(1, 1, 0, false);
        r.name = "élèves.csv".into();
        assert_eq!(u16_at(&r.local_header(), 6), FLAG_DESCRIPTOR | FLAG_UTF8);
    }
}
