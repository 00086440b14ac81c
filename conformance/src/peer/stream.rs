//! The byte stream under a [`FrameConn`](super::conn::FrameConn): plain TCP,
//! or TLS 1.3 records over it once the suite has run a handshake
//! (protocol.md section 12).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use faxnotify_core::auth::ChannelBinding;

/// RFC 9266: the label of the `tls-exporter` channel binding [T-6].
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Plain TCP or TLS over it.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Bytes as they are.
    Plain(TcpStream),
    /// A TLS connection whose handshake completed.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The socket (for timeouts and shutdown).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }

    /// The connection's RFC 9266 `tls-exporter` value; `None` on plain TCP.
    pub(crate) fn binding(&self) -> Option<ChannelBinding> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(t) => Some(t.binding),
        }
    }

    /// Half-closes: over TLS a close_notify goes first, so the peer can tell
    /// an orderly end from a truncation.
    pub(crate) fn shutdown_write(&mut self) {
        if let Stream::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// A rustls connection over a blocking socket (rustls's `StreamOwned` wants
/// the concrete client or server type; the suite plays both).
#[derive(Debug)]
pub(crate) struct TlsStream {
    conn: rustls::Connection,
    sock: TcpStream,
    binding: ChannelBinding,
}

impl TlsStream {
    /// Runs the handshake on `sock`, ending it with `TimedOut` at
    /// `deadline` however the peer paces its bytes (a peer sending one
    /// byte just within each read's timeout would otherwise hold it for
    /// ever), and computes the channel binding. On failure the TLS alert
    /// rustls chose, if any, has been sent; the error's text is rustls's
    /// reason.
    pub(crate) fn handshake(
        mut conn: rustls::Connection,
        mut sock: TcpStream,
        deadline: Instant,
    ) -> io::Result<Self> {
        loop {
            while conn.wants_write() {
                conn.write_tls(&mut sock)?;
            }
            if !conn.is_handshaking() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ErrorKind::TimedOut.into());
            }
            sock.set_read_timeout(Some(left))?;
            if conn.read_tls(&mut sock)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            if let Err(e) = conn.process_new_packets() {
                // Send the alert rustls queued for the failure.
                while conn.wants_write() && conn.write_tls(&mut sock).is_ok() {}
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
        }
        let mut cb = [0u8; 32];
        conn.export_keying_material(&mut cb, EXPORTER_LABEL, Some(&[]))
            .map_err(io::Error::other)?;
        Ok(Self {
            conn,
            sock,
            binding: ChannelBinding::from_bytes(cb),
        })
    }

    fn write_pending(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    /// Reads the socket at most once (its timeout applies): `WouldBlock`
    /// when that brought no whole record, so that the caller's deadline
    /// is checked again. Waiting here for the rest of a record would let a
    /// peer sending one byte just within each read's timeout hold it for
    /// ever.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut read_socket = false;
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock && read_socket => return Err(e),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: for the suite's
                // verdicts that is the end of the stream, as on plain TCP.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                other => return other,
            }
            // No plaintext yet: read records. At end of stream rustls notes
            // it, and the reader says so on the next round.
            read_socket = true;
            self.conn.read_tls(&mut self.sock)?;
            let processed = self.conn.process_new_packets();
            // Send what rustls queued in answer (an alert on failure).
            let _ = self.write_pending();
            processed.map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.write_pending()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.writer().flush()?;
        self.write_pending()?;
        self.sock.flush()
    }
}
