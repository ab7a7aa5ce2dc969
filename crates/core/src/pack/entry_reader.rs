//! One entry of an incoming zip as a [`BatchFile`]: streamed from the zip on every `open`, and
//! never trusted further than its header.
//!
//! [`CheckedReader`] counts what the decompressor yields. It fails the read that would go past
//! the declared size (so a lying entry cannot expand beyond what the ratio check allowed), and
//! at the end it checks the count and the CRC-32, so a short or corrupted entry is caught by
//! whoever reads it: the validator first, then the packer.

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use super::directory::RawEntry;
use super::error::ZipInputError;
use crate::store::BatchFile;

/// A CSV entry of an [`super::IncomingZip`].
#[derive(Debug, Clone)]
pub struct ZipEntryFile {
    zip: Arc<PathBuf>,
    entry: RawEntry,
}

impl ZipEntryFile {
    pub(crate) fn new(zip: Arc<PathBuf>, entry: RawEntry) -> Self {
        ZipEntryFile { zip, entry }
    }

    /// Size of the entry's compressed bytes in the zip.
    pub fn compressed_size(&self) -> u64 {
        self.entry.compressed
    }

    /// The CRC-32 the zip declares for the entry (checked when a reader reaches the end).
    pub fn crc32(&self) -> u32 {
        self.entry.crc32
    }

    fn open_checked(&self) -> io::Result<CheckedReader<Box<dyn Read + Send>>> {
        let mut file = crate::store::local::open_regular(self.zip.as_path())?;
        file.seek(SeekFrom::Start(self.entry.data_start))?;
        let raw = BufReader::with_capacity(64 * 1024, file).take(self.entry.compressed);
        let decoded: Box<dyn Read + Send> = match self.entry.method {
            0 => Box::new(raw),
            _ => Box::new(flate2::read::DeflateDecoder::new(raw)),
        };
        Ok(CheckedReader::new(decoded, self.zip.clone(), &self.entry))
    }
}

impl BatchFile for ZipEntryFile {
    fn name(&self) -> &str {
        &self.entry.name
    }

    /// The declared size, which reading enforces.
    fn size(&self) -> Option<u64> {
        Some(self.entry.uncompressed)
    }

    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(self.open_checked()?))
    }
}

/// Reads an entry's decompressed bytes, enforcing its declared size and CRC-32.
///
/// Errors are `io::Error`s of kind `InvalidData` wrapping a [`ZipInputError`] that names the zip
/// and the entry.
pub(crate) struct CheckedReader<R> {
    inner: R,
    zip: Arc<PathBuf>,
    name: String,
    declared: u64,
    expected_crc: u32,
    read: u64,
    crc: crc32fast::Hasher,
    finished: bool,
}

impl<R: Read> CheckedReader<R> {
    fn new(inner: R, zip: Arc<PathBuf>, entry: &RawEntry) -> Self {
        CheckedReader {
            inner,
            zip,
            name: entry.name.clone(),
            declared: entry.uncompressed,
            expected_crc: entry.crc32,
            read: 0,
            crc: crc32fast::Hasher::new(),
            finished: false,
        }
    }

    /// At the end of the data: the count and the checksum must match the header.
    fn finish(&mut self) -> io::Result<usize> {
        if self.read != self.declared {
            return Err(self.error(|zip, entry| ZipInputError::ShorterThanDeclared {
                zip,
                entry,
                declared: self.declared,
                actual: self.read,
            }));
        }
        let actual = self.crc.clone().finalize();
        if actual != self.expected_crc {
            return Err(self.error(|zip, entry| ZipInputError::CrcMismatch {
                zip,
                entry,
                expected: self.expected_crc,
                actual,
            }));
        }
        self.finished = true;
        Ok(0)
    }

    fn error(&self, make: impl FnOnce(PathBuf, String) -> ZipInputError) -> io::Error {
        make(self.zip.to_path_buf(), self.name.clone()).into_io()
    }
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        // Ask for at most one byte more than may remain: that byte, if it comes, is the proof
        // of a lie, and no byte past the declared size is ever handed to the caller.
        let remaining = self.declared - self.read;
        let want = (buf.len() as u64).min(remaining.saturating_add(1)) as usize;
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(source) => {
                return Err(self.error(|zip, entry| ZipInputError::ReadEntry {
                    zip,
                    entry,
                    source,
                }));
            }
        };
        if n == 0 {
            return self.finish();
        }
        if n as u64 > remaining {
            return Err(self.error(|zip, entry| ZipInputError::LargerThanDeclared {
                zip,
                entry,
                declared: self.declared,
            }));
        }
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(data: &'static [u8], declared: u64, crc: u32) -> CheckedReader<&'static [u8]> {
        let entry = RawEntry {
            name: "users.csv".into(),
            method: 0,
            encrypted: false,
            crc32: crc,
            compressed: data.len() as u64,
            uncompressed: declared,
            header_offset: 0,
            data_start: 0,
        };
        CheckedReader::new(data, Arc::new(PathBuf::from("in.zip")), &entry)
    }

    fn inner_error(e: io::Error) -> String {
        e.get_ref()
            .unwrap()
            .downcast_ref::<ZipInputError>()
            .unwrap()
            .to_string()
    }

    #[test]
    fn an_honest_entry_reads_through() {
        let data = b"user_id,login_id\n";
        let mut out = Vec::new();
        checked(data, data.len() as u64, crc32fast::hash(data))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn more_bytes_than_declared_fail_without_being_handed_out() {
        let mut r = checked(b"0123456789", 4, 0);
        let mut small = [0u8; 2];
        assert_eq!(r.read(&mut small).unwrap(), 2);
        assert_eq!(r.read(&mut small).unwrap(), 2);
        let err = r.read(&mut small).unwrap_err();
        assert!(inner_error(err).contains("decompresses to more than the 4 bytes"));
        let err = checked(b"0123456789", 4, 0)
            .read(&mut [0u8; 64])
            .unwrap_err();
        assert!(inner_error(err).contains("decompresses to more than the 4 bytes"));
    }

    #[test]
    fn fewer_bytes_than_declared_fail_at_the_end() {
        let err = checked(b"abc", 10, crc32fast::hash(b"abc"))
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(inner_error(err).contains("decompresses to 3 bytes but its header declares 10"));
    }

    #[test]
    fn a_wrong_checksum_fails_at_the_end() {
        let err = checked(b"abc", 3, 1)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(inner_error(err).contains("fails its checksum"));
    }
}
