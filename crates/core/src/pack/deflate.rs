//! Raw-deflate compression of one chunk of an entry, so chunks can be compressed in parallel.
//!
//! A chunk is primed with the previous 32 KiB of its entry as dictionary, so matches reach back
//! across the chunk boundary and the ratio barely drops. A chunk that is not the entry's last
//! ends with a sync flush: the block is closed and byte-aligned and not final, so the chunks'
//! outputs concatenated in order form one valid deflate stream. The last chunk finishes the
//! stream. The output depends only on (level, dictionary, data, last): never on which thread
//! compressed it, which is what keeps the archive deterministic.
//!
//! Level 6, the default, is tuned: zlib-rs's lazy-matching deflate (the algorithm of classic
//! zlib's level 6, which zlib-rs keeps for levels 7–9) with half classic level 6's search chain
//! (`deflateTune` good 4, lazy 32, nice 128, chain 64). It costs less CPU than zlib-rs's own
//! level 6 on both bench feeds, for a zip 0.35 % larger on the 100 MiB pack feed (1.65 CPU-s
//! against 1.94 on one thread; 0.995x `zip -6`'s size) and 5.9 % smaller on the 200 MiB
//! enrollments-heavy worker feed (2.12 against 3.32; 0.959x Python zlib level 6's size), as
//! docs/benchmarks.md's second deflate harness measured.
//! libdeflate's level 6, chunks joined by clearing their final bit, was 0.81x and 0.90x the CPU
//! for 1.004x and 1.024x the size: not enough to add a C library for. Shorter chains were
//! cheaper on one feed and 5 % bigger on the other: sorted enrollments find their best match
//! up to 64 candidates back. The other levels are zlib-rs's. The zlib API (libz-rs-sys, over the same zlib-rs as flate2) is used because
//! flate2 cannot tune a stream; its calls are the only `unsafe` here, each on a stream this
//! module owns.

use std::os::raw::c_int;

use libz_rs_sys::{
    Z_DEFAULT_STRATEGY, Z_DEFLATED, Z_FINISH, Z_OK, Z_STREAM_END, Z_SYNC_FLUSH, deflate,
    deflateEnd, deflateInit2_, deflateSetDictionary, deflateTune, z_stream, zlibVersion,
};

/// Deflate's window: a dictionary longer than this is never used.
pub(crate) const WINDOW_BYTES: usize = 32 * 1024;

/// How a level compresses: the zlib level whose algorithm runs, and the search limits that
/// replace its own (good, lazy, nice, chain), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tuning {
    zlib_level: c_int,
    search: Option<[c_int; 4]>,
}

/// The tuning of canvas-sis level `level` (0–9).
fn tuning(level: u32) -> Tuning {
    match level.min(9) {
        6 => Tuning {
            zlib_level: 7,
            search: Some([4, 32, 128, 64]),
        },
        l => Tuning {
            zlib_level: l as c_int,
            search: None,
        },
    }
}

/// A raw-deflate compressor for chunks (one per worker thread).
///
/// Each chunk gets a *fresh* stream: with a reset stream instead, the bytes of a chunk depended
/// on what that stream had compressed before (seen with 16–20 KiB chunks and dictionaries), so
/// archives differed between runs. A new stream costs an allocation per chunk, which is noise
/// next to deflating a megabyte.
pub(crate) struct ChunkDeflater {
    tuning: Tuning,
}

impl ChunkDeflater {
    pub fn new(level: u32) -> Self {
        ChunkDeflater {
            tuning: tuning(level),
        }
    }

    /// Compresses `data`, primed with `dict` (at most the last 32 KiB is used), into `out`
    /// (emptied first; a reused buffer saves a fresh mapping per chunk).
    ///
    /// An empty `data` gives an empty output: the writer stores empty entries instead.
    pub fn deflate_into(
        &self,
        dict: &[u8],
        data: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        out.clear();
        if data.is_empty() {
            return Ok(());
        }
        let mut stream = RawDeflate::new(self.tuning)?;
        let dict = &dict[dict.len().saturating_sub(WINDOW_BYTES)..];
        if !dict.is_empty() {
            stream.set_dictionary(dict)?;
        }
        out.reserve(deflate_bound(data.len()));
        stream.run(data, out, last)
    }
}

/// One raw-deflate stream of the zlib API, ended when dropped. Boxed: zlib's state points back
/// at its stream, which must not move.
struct RawDeflate {
    strm: Box<z_stream>,
}

impl RawDeflate {
    fn new(t: Tuning) -> Result<Self, String> {
        let mut strm = Box::new(z_stream::default());
        // SAFETY: `strm` is a default (zeroed, no allocator: zlib-rs installs its own) stream
        // that lives in a Box; the version and size are this crate's own.
        let rc = unsafe {
            deflateInit2_(
                &mut *strm,
                t.zlib_level,
                Z_DEFLATED,
                -15, // raw deflate, 32 KiB window
                8,
                Z_DEFAULT_STRATEGY,
                zlibVersion(),
                std::mem::size_of::<z_stream>() as c_int,
            )
        };
        if rc != Z_OK {
            return Err(format!("deflateInit2 returned {rc}"));
        }
        let stream = RawDeflate { strm };
        if let Some([good, lazy, nice, chain]) = t.search {
            // SAFETY: the stream was initialised above and is not ended until drop.
            let rc = unsafe { deflateTune(stream.as_ptr(), good, lazy, nice, chain) };
            if rc != Z_OK {
                return Err(format!("deflateTune returned {rc}"));
            }
        }
        Ok(stream)
    }

    fn as_ptr(&self) -> *mut z_stream {
        std::ptr::from_ref::<z_stream>(&self.strm).cast_mut()
    }

    fn set_dictionary(&mut self, dict: &[u8]) -> Result<(), String> {
        // SAFETY: an initialised stream; `dict` is read during the call only (≤ 32 KiB).
        let rc = unsafe { deflateSetDictionary(&mut *self.strm, dict.as_ptr(), dict.len() as u32) };
        if rc != Z_OK {
            return Err(format!("deflateSetDictionary returned {rc}"));
        }
        Ok(())
    }

    /// Compresses all of `input` into `out`, then a sync flush (or the end of the stream if
    /// `last`). `input` is at most a chunk (well under 4 GiB, zlib's per-call limit).
    fn run(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool) -> Result<(), String> {
        let flush = if last { Z_FINISH } else { Z_SYNC_FLUSH };
        let len = u32::try_from(input.len()).map_err(|_| "a chunk over 4 GiB".to_owned())?;
        self.strm.next_in = input.as_ptr();
        self.strm.avail_in = len;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(64 * 1024);
            }
            let spare = out.spare_capacity_mut();
            let room = spare.len().min(u32::MAX as usize);
            self.strm.next_out = spare.as_mut_ptr().cast::<u8>();
            self.strm.avail_out = room as u32;
            // SAFETY: next_in/avail_in cover `input`, alive for this call; next_out/avail_out
            // cover `out`'s spare capacity, of which zlib writes only the first bytes it reports.
            let rc = unsafe { deflate(&mut *self.strm, flush) };
            let written = room - self.strm.avail_out as usize;
            // SAFETY: zlib initialised the first `written` bytes of the spare capacity.
            unsafe { out.set_len(out.len() + written) };
            // Complete: the stream's end for the last chunk; otherwise all input taken and the
            // flush done, which zlib shows by leaving output room (a full output must be
            // called again).
            let complete = if last {
                rc == Z_STREAM_END
            } else {
                self.strm.avail_in == 0 && self.strm.avail_out > 0
            };
            if complete {
                self.strm.next_in = std::ptr::null();
                return Ok(());
            }
            if rc != Z_OK {
                return Err(format!("deflate returned {rc}"));
            }
        }
    }
}

impl Drop for RawDeflate {
    fn drop(&mut self) {
        // SAFETY: an initialised stream, ended once; its pointers into caller buffers are not
        // followed by deflateEnd.
        unsafe { deflateEnd(&mut *self.strm) };
    }
}

/// Room for the compressed chunk in one go in nearly every case: incompressible data costs
/// 5 bytes per 16 KiB stored block, plus the flush marker.
fn deflate_bound(len: usize) -> usize {
    len + len / 1024 + 64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    impl ChunkDeflater {
        /// `deflate_into` a new buffer.
        fn deflate(&self, dict: &[u8], data: &[u8], last: bool) -> Result<Vec<u8>, String> {
            let mut out = Vec::new();
            self.deflate_into(dict, data, last, &mut out)?;
            Ok(out)
        }
    }

    /// A buffer that held another chunk's output compresses to the same bytes as a new one.
    #[test]
    fn a_reused_output_buffer_gives_the_same_bytes_as_a_new_one() {
        let data = sample(60_000);
        let d = ChunkDeflater::new(6);
        let mut reused = d.deflate(&[], &noise(90_000, 5), false).unwrap();
        d.deflate_into(&data[..100], &data, true, &mut reused)
            .unwrap();
        assert_eq!(reused, d.deflate(&data[..100], &data, true).unwrap());
        d.deflate_into(&[], &data, true, &mut reused).unwrap();
        assert_eq!(inflate(&reused), data);
    }

    fn inflate(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(raw)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// A pseudo-random byte stream (xorshift64*): nothing in it repeats by chance.
    fn noise(len: usize, mut x: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// CSV rows with pseudo-random ids, like a users file.
    fn csv_like(rows: usize) -> Vec<u8> {
        let ids = noise(rows * 4, 7);
        let mut out = b"user_id,login_id,first_name,last_name,status\n".to_vec();
        for (i, id) in ids.chunks(4).enumerate() {
            let n = u32::from_le_bytes(id.try_into().unwrap()) % 900_000;
            let first = ["Ana", "Ben", "Chloe", "Dev", "Eli"][i % 5];
            out.extend(format!("U{n},{first}{n},{first},Last{},active\n", n % 977).bytes());
        }
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"user_id,login_id,first_name\nu1,jdoe,Jane\n"[i % 41] ^ (i / 997) as u8)
            .collect()
    }

    #[test]
    fn chunks_concatenated_in_order_inflate_to_the_whole_input() {
        let data = sample(300_000);
        let d = ChunkDeflater::new(6);
        let (a, b, c) = (&data[..100_000], &data[100_000..200_000], &data[200_000..]);
        let mut stream = d.deflate(&[], a, false).unwrap();
        stream.extend(d.deflate(a, b, false).unwrap());
        stream.extend(d.deflate(b, c, true).unwrap());
        assert_eq!(inflate(&stream), data);
    }

    #[test]
    fn the_dictionary_lets_a_chunk_refer_back_across_the_boundary() {
        let block = noise(20_000, 3);
        let d = ChunkDeflater::new(6);
        let primed = d.deflate(&block, &block, true).unwrap();
        let cold = d.deflate(&[], &block, true).unwrap();
        assert!(
            primed.len() * 10 < cold.len(),
            "primed {} vs cold {}",
            primed.len(),
            cold.len()
        );
    }

    #[test]
    fn the_same_chunk_compresses_to_the_same_bytes_on_a_reused_deflater() {
        let data = sample(50_000);
        let d = ChunkDeflater::new(6);
        let first = d.deflate(&data[..10], &data, false).unwrap();
        let _other = d.deflate(&[], &sample(7_000), true).unwrap();
        assert_eq!(d.deflate(&data[..10], &data, false).unwrap(), first);
    }

    #[test]
    fn every_level_compresses_chunks_that_inflate_back() {
        let data = sample(150_000);
        for level in 0..=9 {
            let d = ChunkDeflater::new(level);
            let mut stream = d.deflate(&[], &data[..70_000], false).unwrap();
            stream.extend(d.deflate(&data[..70_000], &data[70_000..], true).unwrap());
            assert_eq!(inflate(&stream), data, "level {level}");
        }
    }

    #[test]
    fn level_six_is_tuned_and_the_others_are_zlibs() {
        assert_eq!(
            tuning(6),
            Tuning {
                zlib_level: 7,
                search: Some([4, 32, 128, 64])
            }
        );
        assert_eq!(tuning(3).search, None);
        assert_eq!(tuning(12).zlib_level, 9);
        // The tuning takes effect: level 6 differs from the untuned algorithm it runs.
        let data = csv_like(5_000);
        let six = ChunkDeflater::new(6).deflate(&[], &data, true).unwrap();
        let seven = ChunkDeflater::new(7).deflate(&[], &data, true).unwrap();
        assert_ne!(six, seven);
    }

    #[test]
    fn incompressible_data_larger_than_the_first_guess_still_completes() {
        let noise = noise(200_000, 11);
        let d = ChunkDeflater::new(9);
        let out = d.deflate(&[], &noise, true).unwrap();
        assert_eq!(inflate(&out), noise);
    }
}
