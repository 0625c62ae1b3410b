//! A small protobuf wire-format reader: varints, fixed 32/64-bit values and length-delimited
//! fields. Every read is bounds-checked and reports malformed input as an error, never a panic.

use super::ProtobufError;

/// Wire type 0: varint.
pub(crate) const VARINT: u8 = 0;
/// Wire type 1: 64-bit little-endian.
pub(crate) const I64: u8 = 1;
/// Wire type 2: length-delimited.
pub(crate) const LEN: u8 = 2;
/// Wire type 5: 32-bit little-endian.
pub(crate) const I32: u8 = 5;

/// One field value as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type of this value.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => VARINT,
            WireValue::Fixed64(_) => I64,
            WireValue::Bytes(_) => LEN,
            WireValue::Fixed32(_) => I32,
        }
    }
}

fn malformed(detail: &str) -> ProtobufError {
    ProtobufError::Malformed(detail.to_string())
}

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether all bytes have been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads a base-128 varint of at most 10 bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(malformed("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(malformed("varint overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(malformed("field runs past the end of its message"));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ProtobufError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads one field: its number and value. Groups (wire types 3 and 4) are rejected.
    pub(crate) fn field(&mut self) -> Result<(u32, WireValue<'a>), ProtobufError> {
        let key = self.varint()?;
        let tag = key >> 3;
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err(malformed("invalid field number"));
        }
        let value = match (key & 7) as u8 {
            VARINT => WireValue::Varint(self.varint()?),
            I64 => WireValue::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            LEN => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| malformed("length too large"))?;
                WireValue::Bytes(self.take(len)?)
            }
            I32 => WireValue::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            3 | 4 => return Err(malformed("groups are not supported")),
            _ => return Err(malformed("invalid wire type")),
        };
        Ok((tag as u32, value))
    }
}

/// Iterates over the fields of a message.
pub(crate) fn fields(buf: &[u8]) -> impl Iterator<Item = Result<(u32, WireValue<'_>), ProtobufError>> {
    let mut reader = Reader::new(buf);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || reader.is_empty() {
            return None;
        }
        let item = reader.field();
        failed = item.is_err();
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r = Reader::new(&[0x96, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.varint().unwrap(), 150);
        assert_eq!(r.varint().unwrap(), 0);
        assert_eq!(r.varint().unwrap(), u64::MAX);
        assert!(r.is_empty());
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint().is_err());
    }

    #[test]
    fn fields_and_bounds() {
        let buf = [0x08, 0x05, 0x12, 0x02, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0];
        let got: Vec<_> = fields(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, vec![(1, WireValue::Varint(5)), (2, WireValue::Bytes(b"hi")), (3, WireValue::Fixed64(1)), (4, WireValue::Fixed32(2)),]);
        assert!(fields(&[0x12, 0x05, b'a']).any(|r| r.is_err()));
        assert!(fields(&[0x00, 0x01]).any(|r| r.is_err()));
        assert!(fields(&[0x0b]).any(|r| r.is_err()));
        assert!(fields(&[0x19, 1, 2]).any(|r| r.is_err()));
        assert!(fields(&[0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).any(|r| r.is_err()));
    }
}
