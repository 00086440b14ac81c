//! A bounds-checked cursor over a frame body: every read names the field so a
//! short or malformed body gives a specific [`DecodeError`].

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::MAX_STR_LEN;
use super::codes::FrameType;
use super::error::DecodeError;

pub(crate) struct BodyReader<'a> {
    frame: FrameType,
    rest: &'a [u8],
}

impl<'a> BodyReader<'a> {
    pub(crate) fn new(frame: FrameType, body: &'a [u8]) -> Self {
        Self { frame, rest: body }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated {
                frame: self.frame,
                field,
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn n32(&mut self, field: &'static str) -> Result<[u8; 32], DecodeError> {
        self.array(field)
    }

    pub(crate) fn blob(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.take(len, field)
    }

    pub(crate) fn str(&mut self, field: &'static str) -> Result<Cow<'a, str>, DecodeError> {
        let len = usize::from(self.u16(field)?);
        if len > MAX_STR_LEN {
            return Err(DecodeError::StringTooLong {
                frame: self.frame,
                field,
                len,
            });
        }
        let bytes = self.take(len, field)?;
        std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|_| DecodeError::InvalidUtf8 {
                frame: self.frame,
                field,
            })
    }

    /// A `str` field's bytes, its length checked but not its UTF-8 (the
    /// caller checks that once, where it keeps the bytes).
    pub(crate) fn str_bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(field)?);
        if len > MAX_STR_LEN {
            return Err(DecodeError::StringTooLong {
                frame: self.frame,
                field,
                len,
            });
        }
        self.take(len, field)
    }

    pub(crate) fn addr(&mut self, field: &'static str) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8(field)? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>(field)?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>(field)?)),
            family => {
                return Err(DecodeError::BadAddressFamily {
                    frame: self.frame,
                    field,
                    family,
                });
            }
        };
        Ok(SocketAddr::new(ip, self.u16(field)?))
    }

    /// Reads an enum field, refusing values the protocol does not define.
    pub(crate) fn enum_u8<T>(
        &mut self,
        field: &'static str,
        from_wire: fn(u8) -> Option<T>,
    ) -> Result<T, DecodeError> {
        let value = self.u8(field)?;
        from_wire(value).ok_or(DecodeError::BadEnumValue {
            frame: self.frame,
            field,
            value: u32::from(value),
        })
    }

    /// Succeeds only if every byte of the body was read [F-4].
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                frame: self.frame,
                extra: self.rest.len(),
            })
        }
    }
}
