//! The protobuf wire format, read by hand: keys, varints, length-delimited
//! records. Nothing here knows Kubernetes; [`super::decode`] gives the
//! bytes their meaning.
//!
//! A message is a sequence of records. Each starts with a *key*, a varint
//! `field_number << 3 | wire_type`; the wire type says how long the value
//! is, so a reader can step over a field it does not understand:
//!
//! | wire type | value                                         |
//! |-----------|-----------------------------------------------|
//! | 0 varint  | 7 bits per byte, low bits first, high bit = "more" |
//! | 1 fixed64 | 8 bytes, little-endian                        |
//! | 2 length  | a varint length, then that many bytes (strings, bytes, messages, packed lists) |
//! | 5 fixed32 | 4 bytes, little-endian                        |
//!
//! (3 and 4, "groups", are deprecated and never used by Kubernetes.)
//! Every read checks the remaining length, so a truncated or garbled body
//! is an error with a byte offset, never a panic or an out-of-bounds read.

/// What went wrong at which byte of the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct WireError {
    /// Offset from the start of the body (the magic included).
    pub offset: usize,
    /// What was expected or found.
    pub what: String,
}

/// The wire types Kubernetes uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// 0: ints and bools.
    Varint,
    /// 1: 8 bytes (doubles; none in the kinds orc serves).
    Fixed64,
    /// 2: strings, bytes, nested messages, packed lists.
    Len,
    /// 5: 4 bytes (floats; none in the kinds orc serves).
    Fixed32,
}

impl WireType {
    /// The name protobuf's documentation uses, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::Fixed32 => "fixed32",
        }
    }
}

/// A cursor over one message's bytes. `base` is where those bytes start in
/// the whole body, so errors in nested messages still name the body offset.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which start at body offset `base`.
    pub fn new(bytes: &'a [u8], base: usize) -> Reader<'a> {
        Reader {
            bytes,
            pos: 0,
            base,
        }
    }

    /// The body offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Whether every byte has been read.
    pub fn is_done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// An error at the current offset.
    pub fn error(&self, what: impl Into<String>) -> WireError {
        WireError {
            offset: self.offset(),
            what: what.into(),
        }
    }

    // ANCHOR: varint
    /// A base-128 varint: seven bits per byte, least significant first,
    /// the high bit set on every byte but the last. At most ten bytes
    /// (64 bits); an eleventh, or the body ending mid-varint, is an error.
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.offset();
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(WireError {
                    offset: start,
                    what: "the body ends inside a varint".into(),
                });
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError {
            offset: start,
            what: "a varint longer than 10 bytes".into(),
        })
    }
    // ANCHOR_END: varint

    /// A record's key: (field number, wire type).
    pub fn key(&mut self) -> Result<(u64, WireType), WireError> {
        let start = self.offset();
        let key = self.varint()?;
        let number = key >> 3;
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            other => {
                return Err(WireError {
                    offset: start,
                    what: format!("unsupported wire type {other} (field {number})"),
                });
            }
        };
        if number == 0 {
            return Err(WireError {
                offset: start,
                what: "field number 0 (not a protobuf message?)".into(),
            });
        }
        Ok((number, wire))
    }

    /// A length-delimited value: the bytes and the body offset they start at.
    pub fn len_delimited(&mut self) -> Result<(&'a [u8], usize), WireError> {
        let start = self.offset();
        let len = self.varint()?;
        let left = self.bytes.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| WireError {
                offset: start,
                what: format!("a length of {len} bytes, but only {left} are left"),
            })?;
        let at = self.offset();
        let value = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok((value, at))
    }

    /// `n` raw bytes (a fixed32 or fixed64 value).
    fn fixed(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let left = self.bytes.len() - self.pos;
        if left < n {
            return Err(self.error(format!("a {n}-byte value, but only {left} bytes are left")));
        }
        let value = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(value)
    }

    /// Steps over one value of wire type `wire`.
    pub fn skip(&mut self, wire: WireType) -> Result<(), WireError> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed(8).map(drop),
            WireType::Len => self.len_delimited().map(drop),
            WireType::Fixed32 => self.fixed(4).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_of_one_to_ten_bytes() {
        let cases: &[(&[u8], u64)] = &[
            (&[0x00], 0),
            (&[0x01], 1),
            (&[0x7f], 127),
            (&[0x80, 0x01], 128),
            (&[0xac, 0x02], 300),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], u64::from(u32::MAX)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                u64::MAX,
            ),
        ];
        for (bytes, want) in cases {
            let mut r = Reader::new(bytes, 0);
            assert_eq!(r.varint().unwrap(), *want, "{bytes:x?}");
            assert!(r.is_done());
        }
    }

    #[test]
    fn a_negative_int32_is_ten_bytes_sign_extended() {
        // Go writes int32(-1) as uint64(int64(-1)).
        let mut r = Reader::new(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            0,
        );
        assert_eq!(r.varint().unwrap() as i32, -1);
    }

    #[test]
    fn truncated_and_overlong_varints_are_errors_with_offsets() {
        let err = Reader::new(&[0x80, 0x80], 7).varint().unwrap_err();
        assert_eq!(err.to_string(), "the body ends inside a varint at byte 7");
        let err = Reader::new(&[0xff; 11], 0).varint().unwrap_err();
        assert_eq!(err.what, "a varint longer than 10 bytes");
    }

    #[test]
    fn keys_split_number_and_wire_type() {
        // Field 1, length-delimited; field 16 (two-byte key), varint.
        let mut r = Reader::new(&[0x0a, 0x80, 0x01], 0);
        assert_eq!(r.key().unwrap(), (1, WireType::Len));
        assert_eq!(r.key().unwrap(), (16, WireType::Varint));
        let err = Reader::new(&[0x0b], 0).key().unwrap_err();
        assert_eq!(err.what, "unsupported wire type 3 (field 1)");
        let err = Reader::new(&[0x00], 0).key().unwrap_err();
        assert!(err.what.starts_with("field number 0"), "{err}");
    }

    #[test]
    fn length_delimited_values_are_bounds_checked() {
        let mut r = Reader::new(&[0x03, b'a', b'b', b'c', 0x05, b'x'], 10);
        assert_eq!(r.len_delimited().unwrap(), (&b"abc"[..], 11));
        let err = r.len_delimited().unwrap_err();
        assert_eq!(
            err.to_string(),
            "a length of 5 bytes, but only 1 are left at byte 14"
        );
    }

    #[test]
    fn skipping_every_wire_type() {
        let bytes = [
            0x96, 0x01, // varint 150
            1, 2, 3, 4, 5, 6, 7, 8, // fixed64
            0x02, b'h', b'i', // length 2
            1, 2, 3, 4, // fixed32
        ];
        let mut r = Reader::new(&bytes, 0);
        for wire in [
            WireType::Varint,
            WireType::Fixed64,
            WireType::Len,
            WireType::Fixed32,
        ] {
            r.skip(wire).unwrap();
        }
        assert!(r.is_done());
        let err = Reader::new(&[1, 2], 0).skip(WireType::Fixed32).unwrap_err();
        assert_eq!(err.what, "a 4-byte value, but only 2 bytes are left");
    }
}
