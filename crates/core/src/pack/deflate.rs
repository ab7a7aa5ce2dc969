//! Raw-deflate compression of one chunk of an entry, so chunks can be compressed in parallel.
//!
//! A chunk is primed with the previous 32 KiB of its entry as dictionary, so matches reach back
//! across the chunk boundary and the ratio barely drops. A chunk that is not the entry's last
//! ends with a sync flush: the block is closed and byte-aligned and not final, so the chunks'
//! outputs concatenated in order form one valid deflate stream. The last chunk finishes the
//! stream. The output depends only on (level, dictionary, data, last): never on which thread
//! compressed it, which is what keeps the archive deterministic.

use flate2::{Compress, Compression, FlushCompress, Status};

/// Deflate's window: a dictionary longer than this is never used.
pub(crate) const WINDOW_BYTES: usize = 32 * 1024;

/// A raw-deflate compressor for chunks (one per worker thread).
///
/// Each chunk gets a *fresh* zlib-rs stream: with `Compress::reset` instead, the bytes of a
/// chunk depended on what that stream had compressed before (seen with 16–20 KiB chunks and
/// dictionaries), so archives differed between runs. A new stream costs an allocation per
/// chunk, which is noise next to deflating a megabyte.
pub(crate) struct ChunkDeflater {
    level: u32,
}

impl ChunkDeflater {
    pub fn new(level: u32) -> Self {
        ChunkDeflater {
            level: level.min(9),
        }
    }

    /// Compresses `data`, primed with `dict` (at most the last 32 KiB is used).
    ///
    /// An empty `data` gives an empty output: the writer stores empty entries instead.
    pub fn deflate(&self, dict: &[u8], data: &[u8], last: bool) -> Result<Vec<u8>, String> {
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let mut compress = Compress::new(Compression::new(self.level), false);
        let dict = &dict[dict.len().saturating_sub(WINDOW_BYTES)..];
        if !dict.is_empty() {
            compress
                .set_dictionary(dict)
                .map_err(|e| format!("setting the dictionary: {e}"))?;
        }
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let mut out = Vec::with_capacity(deflate_bound(data.len()));
        run(&mut compress, data, &mut out, flush)?;
        Ok(out)
    }
}

/// Feeds all of `input` with `flush` until zlib says the flush is complete.
///
/// Complete means: stream end for `Finish`; for `Sync`, all input consumed and output space
/// left over (zlib's rule: a call that filled the output must be repeated).
fn run(
    compress: &mut Compress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> Result<(), String> {
    loop {
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let before = compress.total_in();
        let status = compress
            .compress_vec(input, out, flush)
            .map_err(|e| e.to_string())?;
        let consumed = (compress.total_in() - before) as usize;
        input = &input[consumed..];
        let complete = match status {
            Status::StreamEnd => true,
            Status::Ok | Status::BufError => {
                flush != FlushCompress::Finish && input.is_empty() && out.len() < out.capacity()
            }
        };
        if complete {
            return Ok(());
        }
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

    fn inflate(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(raw)
            .read_to_end(&mut out)
            .unwrap();
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
        let block: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
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
    fn incompressible_data_larger_than_the_first_guess_still_completes() {
        let noise: Vec<u8> = (0..200_000u64)
            .map(|i| (i.wrapping_mul(6_364_136_223_846_793_005).rotate_left(29) >> 56) as u8)
            .collect();
        let d = ChunkDeflater::new(9);
        let out = d.deflate(&[], &noise, true).unwrap();
        assert_eq!(inflate(&out), noise);
    }
}
