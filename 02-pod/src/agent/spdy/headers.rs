//! SPDY/3 header blocks: name/value pairs, zlib-compressed.
//!
//! A SYN_STREAM or SYN_REPLY frame carries its headers as one *block*:
//! a four-byte count, then for each pair a four-byte length and the
//! name, a four-byte length and the value (all big-endian; several
//! values of one name are joined by NUL bytes). Names are lower case.
//!
//! The block is compressed, and not block by block: each direction of a
//! connection is **one** zlib stream, primed with [`DICTIONARY`], that
//! every block continues and ends with a sync flush. So the compressor
//! and the decompressor live as long as the connection, and a block can
//! only be read in the order it was sent.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::DICTIONARY;

/// Header pairs in the order they were sent. kubectl's are few, so a
/// vector beats a map.
pub type Headers = Vec<(String, String)>;

/// Why a header block could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("the header block does not inflate: {0}")]
    Inflate(String),
    #[error("the header block is truncated or malformed")]
    Malformed,
}

/// Looks a header up by name (names are compared in lower case).
pub fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ANCHOR: encode_block
/// The uncompressed block for `headers`.
pub fn encode_block(headers: &Headers) -> Vec<u8> {
    let mut block = Vec::new();
    block.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        for text in [name.to_ascii_lowercase().as_str(), value.as_str()] {
            block.extend_from_slice(&(text.len() as u32).to_be_bytes());
            block.extend_from_slice(text.as_bytes());
        }
    }
    block
}
// ANCHOR_END: encode_block

/// The pairs of an uncompressed block.
pub fn decode_block(block: &[u8]) -> Result<Headers, HeaderError> {
    let mut rest = block;
    let count = read_u32(&mut rest)?;
    // Each pair needs at least eight bytes: a count beyond that is a lie.
    if count as usize > block.len() / 8 {
        return Err(HeaderError::Malformed);
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = read_text(&mut rest)?;
        let value = read_text(&mut rest)?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// The first `n` bytes of `rest`, which moves past them.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], HeaderError> {
    if rest.len() < n {
        return Err(HeaderError::Malformed);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn read_u32(rest: &mut &[u8]) -> Result<u32, HeaderError> {
    let bytes = take(rest, 4)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// A length-prefixed string.
fn read_text(rest: &mut &[u8]) -> Result<String, HeaderError> {
    let len = read_u32(rest)? as usize;
    let bytes = take(rest, len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| HeaderError::Malformed)
}

/// One direction's compressor: lives as long as the connection.
pub struct HeaderCompressor(Compress);

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    pub fn new() -> HeaderCompressor {
        let mut zlib = Compress::new(Compression::default(), true);
        zlib.set_dictionary(&DICTIONARY)
            .expect("a fresh compressor accepts a dictionary");
        HeaderCompressor(zlib)
    }

    /// `headers`, compressed as the next block of this connection.
    pub fn compress(&mut self, headers: &Headers) -> Vec<u8> {
        let block = encode_block(headers);
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut consumed = 0;
        loop {
            out.reserve(256);
            let before = self.0.total_in();
            self.0
                .compress_vec(&block[consumed..], &mut out, FlushCompress::Sync)
                .expect("compressing into a growing buffer cannot fail");
            consumed += (self.0.total_in() - before) as usize;
            // Done once all input is in and the flush left spare room.
            if consumed == block.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// The other direction's decompressor: lives as long as the connection.
pub struct HeaderDecompressor(Decompress);

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    pub fn new() -> HeaderDecompressor {
        HeaderDecompressor(Decompress::new(true))
    }

    /// The pairs of the next compressed block of this connection.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<Headers, HeaderError> {
        let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
        let mut consumed = 0;
        loop {
            out.reserve(256);
            let before = self.0.total_in();
            let result =
                self.0
                    .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.0.total_in() - before) as usize;
            match result {
                // The stream's header names a dictionary (the first block
                // only): prime it and go on from where it stopped.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| HeaderError::Inflate(e.to_string()))?;
                }
                Err(e) => return Err(HeaderError::Inflate(e.to_string())),
                Ok(Status::StreamEnd) => return decode_block(&out),
                Ok(_) if consumed == compressed.len() && out.len() < out.capacity() => {
                    return decode_block(&out);
                }
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blocks_round_trip_in_lower_case() {
        let headers = pairs(&[("streamType", "data"), ("port", "80"), ("requestID", "0")]);
        let decoded = decode_block(&encode_block(&headers)).unwrap();
        assert_eq!(
            decoded,
            pairs(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")])
        );
        assert_eq!(get(&decoded, "requestID"), Some("0"));
    }

    #[test]
    fn one_zlib_stream_carries_many_blocks_in_order() {
        let (mut out, mut back) = (HeaderCompressor::new(), HeaderDecompressor::new());
        for id in 0..50 {
            let headers = pairs(&[("streamtype", "error"), ("requestid", &id.to_string())]);
            let compressed = out.compress(&headers);
            assert_eq!(back.decompress(&compressed).unwrap(), headers);
        }
        // An empty block (a SYN_REPLY's) round-trips too.
        assert!(back.decompress(&out.compress(&vec![])).unwrap().is_empty());
    }

    #[test]
    fn a_lying_count_or_garbage_is_an_error_not_a_panic() {
        assert!(decode_block(&[0, 0, 0, 9, 0, 0]).is_err());
        assert!(decode_block(&[0, 0, 0, 1, 0, 0, 0, 200, b'a']).is_err());
        assert!(
            HeaderDecompressor::new()
                .decompress(b"not zlib at all")
                .is_err()
        );
    }
}
