//! Non-blocking std sockets keyed by the cores' `ConnId`s: read what is
//! there, write what fits, close once everything queued is written. A
//! minimal adapter for tests; the real runtimes are faxnotify-mio and
//! faxnotify-smol.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};

use faxnotify_core::ConnId;

/// One connection.
#[derive(Debug)]
pub struct Io {
    stream: TcpStream,
    out: Vec<u8>,
    closing: bool,
}

/// What a read produced.
#[derive(Debug)]
pub enum ReadOutcome {
    /// Bytes.
    Data(Vec<u8>),
    /// End of stream or an error.
    Closed,
}

/// Every open connection.
#[derive(Debug, Default)]
pub struct Sockets {
    conns: HashMap<ConnId, Io>,
}

impl Sockets {
    /// Adds a connected stream.
    pub fn insert(&mut self, conn: ConnId, stream: TcpStream) {
        let _ = stream.set_nonblocking(true);
        let _ = stream.set_nodelay(true);
        self.conns.insert(
            conn,
            Io {
                stream,
                out: Vec::new(),
                closing: false,
            },
        );
    }

    /// Whether `conn` is open.
    pub fn contains(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Queues bytes and writes what fits.
    pub fn transmit(&mut self, conn: ConnId, data: &[u8]) {
        if let Some(io) = self.conns.get_mut(&conn) {
            io.out.extend_from_slice(data);
        }
        self.flush(conn);
    }

    /// Closes `conn` once its queued bytes are written.
    pub fn close(&mut self, conn: ConnId) {
        if let Some(io) = self.conns.get_mut(&conn) {
            io.closing = true;
        }
        self.flush(conn);
    }

    /// Drops `conn` at once (the peer closed it).
    pub fn forget(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    fn flush(&mut self, conn: ConnId) {
        let Some(io) = self.conns.get_mut(&conn) else {
            return;
        };
        while !io.out.is_empty() {
            match io.stream.write(&io.out) {
                Ok(0) => break,
                Ok(n) => {
                    io.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    io.out.clear();
                    break;
                }
            }
        }
        if io.closing && io.out.is_empty() {
            // Read what the peer already sent so that closing sends FIN, not RST.
            let mut sink = [0u8; 4096];
            while matches!(io.stream.read(&mut sink), Ok(n) if n > 0) {}
            let _ = io.stream.shutdown(Shutdown::Both);
            self.conns.remove(&conn);
        }
    }

    /// Writes pending bytes everywhere.
    pub fn flush_all(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.flush(id);
        }
    }

    /// Reads every connection once; returns what happened, per connection.
    pub fn read_all(&mut self) -> Vec<(ConnId, ReadOutcome)> {
        let mut events = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        for (id, io) in self.conns.iter_mut() {
            if io.closing {
                continue;
            }
            match io.stream.read(&mut buf) {
                Ok(0) => events.push((*id, ReadOutcome::Closed)),
                Ok(n) => events.push((*id, ReadOutcome::Data(buf[..n].to_vec()))),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => events.push((*id, ReadOutcome::Closed)),
            }
        }
        for (id, outcome) in &events {
            if matches!(outcome, ReadOutcome::Closed) {
                self.conns.remove(id);
            }
        }
        events
    }
}
