//! `[]byte` fields in JSON: standard base64, read as Go reads it.
//!
//! A Secret's `data` and a ConfigMap's `binaryData` are Go `[]byte`, which
//! `encoding/json` writes as standard base64 with padding. Reading, Go is
//! a little more lenient than the encoding: it skips `\r` and `\n`, and
//! does not insist that the unused bits of the last character are zero.
//! A string it cannot read makes the whole object undecodable, and the
//! message is Go's `illegal base64 data at input byte N`, N being where Go's
//! decoder gave up. Clients (client-go, k8s-openapi, kubectl) read the
//! object back with strict decoders, so what Go accepted is stored as
//! Kubernetes stores it: re-encoded, canonical.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The bytes of `text`, or the input byte at which Go's
/// `base64.StdEncoding` decoder gives up.
pub fn decode(text: &str) -> Result<Vec<u8>, usize> {
    let src = text.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        si = quantum(src, si, &mut out)?;
    }
    Ok(out)
}

/// The canonical encoding of what Go reads from `text`: `None` when
/// `text` already is canonical (the usual case, so nothing is copied).
pub fn canonical(text: &str) -> Result<Option<String>, usize> {
    let bytes = decode(text)?;
    let again = STANDARD.encode(&bytes);
    Ok((again != text).then_some(again))
}

/// One group of up to four characters from `si` (Go's `decodeQuantum`):
/// appends its bytes and answers where the next group starts.
fn quantum(src: &[u8], mut si: usize, out: &mut Vec<u8>) -> Result<usize, usize> {
    let mut group = [0u8; 4];
    let mut j = 0;
    while j < 4 {
        let Some(&c) = src.get(si) else {
            // The input ended inside a group: Go wants padding.
            return if j == 0 { Ok(si) } else { Err(si - j) };
        };
        si += 1;
        if let Some(v) = sextet(c) {
            group[j] = v;
            j += 1;
            continue;
        }
        if c == b'\n' || c == b'\r' {
            continue;
        }
        if c != b'=' || j < 2 {
            return Err(si - 1);
        }
        // Padding: `xx==` or `xxx=`, then only line breaks to the end.
        if j == 2 {
            si = skip_newlines(src, si);
            match src.get(si) {
                None => return Err(src.len()),
                Some(b'=') => si += 1,
                Some(_) => return Err(si - 1),
            }
        }
        si = skip_newlines(src, si);
        if si < src.len() {
            return Err(si);
        }
        break;
    }
    let bits = group.iter().fold(0u32, |acc, &v| (acc << 6) | u32::from(v));
    let bytes = bits.to_be_bytes();
    // j characters carry j - 1 whole bytes (4 → 3, 3 → 2, 2 → 1).
    out.extend_from_slice(&bytes[1..j]);
    Ok(si)
}

fn skip_newlines(src: &[u8], mut si: usize) -> usize {
    while matches!(src.get(si), Some(b'\n' | b'\r')) {
        si += 1;
    }
    si
}

/// The value of one character of the standard alphabet.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_go_reads() {
        assert_eq!(decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode("aGk=").unwrap(), b"hi");
        assert_eq!(decode("aA==").unwrap(), b"h");
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("aGVs\nbG8=\n").unwrap(), b"hello");
        // Go ignores the unused low bits of the last character.
        assert_eq!(decode("aB==").unwrap(), b"h");
        assert_eq!(canonical("aB==").unwrap().as_deref(), Some("aA=="));
        assert_eq!(canonical("aGVsbG8=").unwrap(), None);
    }

    #[test]
    fn gives_up_where_go_gives_up() {
        // Not in the alphabet: the offending byte.
        assert_eq!(decode("hello world"), Err(5));
        assert_eq!(decode("a-b_"), Err(1));
        // Missing padding: the start of the short group.
        assert_eq!(decode("abc"), Err(0));
        assert_eq!(decode("aGVsbG8"), Err(4));
        // Padding too early, too short, or followed by more.
        assert_eq!(decode("a==="), Err(1));
        assert_eq!(decode("aA="), Err(3));
        assert_eq!(decode("aA=x"), Err(2));
        assert_eq!(decode("aGk=aGk="), Err(4));
    }
}
