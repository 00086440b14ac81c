//! The byte format of the structured harnesses' inputs.
//!
//! Inputs are read with [`arbitrary::Unstructured`], but only through the
//! few primitives below (fixed-size big-endian integers and length-prefixed
//! blobs), so that [`Writer`] can produce the exact bytes for an operation.
//! That is what lets the seed corpora be written as lists of operations
//! (see `seeds`) rather than as opaque bytes.

use arbitrary::{Result, Unstructured};

pub(crate) fn u8(u: &mut Unstructured<'_>) -> Result<u8> {
    Ok(u.bytes(1)?[0])
}

pub(crate) fn u16(u: &mut Unstructured<'_>) -> Result<u16> {
    let b = u.bytes(2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn bool(u: &mut Unstructured<'_>) -> Result<bool> {
    Ok(u8(u)? & 1 == 1)
}

/// A blob of up to 255 bytes: its length, then the bytes (fewer if the input
/// ends first).
pub(crate) fn blob(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let n = usize::from(u8(u)?);
    let n = n.min(u.len());
    Ok(u.bytes(n)?.to_vec())
}

/// Writes operations in the format the readers above take.
#[derive(Debug, Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    pub(crate) fn blob(&mut self, v: &[u8]) -> &mut Self {
        let n = v.len().min(255);
        self.u8(n as u8);
        self.0.extend_from_slice(&v[..n]);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let mut w = Writer::default();
        w.u8(7).u16(0xbeef).bool(true).blob(b"abc").blob(&[]);
        let mut u = Unstructured::new(&w.0);
        assert_eq!(u8(&mut u).unwrap(), 7);
        assert_eq!(u16(&mut u).unwrap(), 0xbeef);
        assert!(bool(&mut u).unwrap());
        assert_eq!(blob(&mut u).unwrap(), b"abc");
        assert_eq!(blob(&mut u).unwrap(), b"");
        assert!(u8(&mut u).is_err(), "the input is used up");
    }
}
