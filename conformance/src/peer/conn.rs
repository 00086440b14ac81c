//! One TCP connection as the suite sees it: blocking sockets with deadlines,
//! frames decoded strictly, and `expect_*` helpers that turn anything
//! unexpected into a precise [`Fail`].

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faxnotify_core::wire::{
    ByeReason, DecodeError, Decoder, ErrorCode, ErrorFrame, Frame, FrameType, MAX_FRAME_LEN,
};

use faxnotify_core::auth::{AuthMessage, ChannelBinding};

use super::log::CaseLog;
use super::stream::Stream;
use super::tls::{SuiteTlsClient, SuiteTlsServer};
use crate::case::Fail;

/// The most bytes [`FrameConn::read_raw`] keeps: what a verdict shows of
/// them is their first bytes and whether they look like a frame or a TLS
/// record.
pub const MAX_RAW: usize = 64 * 1024;

/// What the next read produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// A whole, valid frame.
    Frame(Frame<'static>),
    /// End of stream (`None`) or a reset / I/O error (its text).
    Closed(Option<String>),
    /// Bytes that are not a valid frame.
    Undecodable(DecodeError),
    /// Nothing arrived within the wait.
    Nothing(Duration),
}

impl Got {
    /// Whether the peer closed the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self, Got::Closed(_))
    }
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::Frame(frame) => write!(f, "{frame}"),
            Got::Closed(None) => f.write_str("the connection closed"),
            Got::Closed(Some(err)) => write!(f, "the connection was reset ({err})"),
            Got::Undecodable(err) => write!(f, "bytes that are not a valid frame ({err})"),
            Got::Nothing(wait) => write!(f, "nothing within {}", secs(*wait)),
        }
    }
}

/// `1.5 s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[derive(Clone, Debug)]
enum ReadState {
    Open,
    Closed(Option<String>),
    Undecodable(DecodeError),
}

/// A connection to the implementation under test.
#[derive(Debug)]
pub struct FrameConn {
    stream: Stream,
    label: String,
    log: CaseLog,
    decoder: Decoder,
    pending: VecDeque<Frame<'static>>,
    state: ReadState,
    buf: Vec<u8>,
    /// Answer every PING with a PONG inside the read functions.
    pub auto_pong: bool,
    /// Frame types the `expect_*` helpers pass over (logged, not judged).
    tolerated: Vec<FrameType>,
    /// The default wait of the `expect_*` helpers.
    wait: Duration,
    /// Send frames in writes of this many bytes with this pause ([F-5]).
    split: Option<(usize, Duration)>,
    peer: SocketAddr,
    local: SocketAddr,
    /// When the suite last wrote to this connection.
    sent: Arc<Mutex<Instant>>,
    /// The session's lease, once LOGIN_OK named it, and when the suite last
    /// wrote on the session's control connection (only control frames renew
    /// the lease [C-5]); for the control connection and its callbacks.
    lease: Option<(Duration, Arc<Mutex<Instant>>)>,
}

impl FrameConn {
    /// Wraps a connected stream. `label` names it in the log (`control`, `callback#1`).
    pub fn new(stream: TcpStream, label: &str, log: &CaseLog, wait: Duration) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(wait.max(Duration::from_secs(1))))?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        log.line(format_args!("{label}: connected {local} -> {peer}"));
        Ok(Self {
            stream: Stream::Plain(stream),
            label: label.to_owned(),
            log: log.clone(),
            decoder: Decoder::new(MAX_FRAME_LEN),
            pending: VecDeque::new(),
            state: ReadState::Open,
            buf: vec![0; 64 * 1024],
            auto_pong: true,
            tolerated: vec![FrameType::Pong],
            wait,
            split: None,
            peer,
            local,
            sent: Arc::new(Mutex::new(Instant::now())),
            lease: None,
        })
    }

    /// Dials `addr`.
    pub fn connect(
        addr: SocketAddr,
        label: &str,
        log: &CaseLog,
        wait: Duration,
    ) -> Result<Self, Fail> {
        let stream = TcpStream::connect_timeout(&addr, wait)
            .map_err(|e| Fail::failed(format!("a TCP connection to {addr}"), format!("{e}")))?;
        Self::new(stream, label, log, wait)
            .map_err(|e| Fail::failed(format!("a usable TCP connection to {addr}"), format!("{e}")))
    }

    /// Runs the TLS client handshake (the suite plays the fax client
    /// [T-2]); FNP/1 frames then travel inside TLS. Fails, naming rustls's
    /// reason, if the handshake does.
    pub fn start_tls_client(&mut self, tls: &SuiteTlsClient) -> Result<(), String> {
        self.upgrade(|sock, wait| tls.handshake(sock, wait), "client")
    }

    /// Runs the TLS server handshake (the suite plays the fax server [T-2]).
    pub fn start_tls_server(&mut self, tls: &SuiteTlsServer) -> Result<(), String> {
        self.upgrade(|sock, wait| tls.handshake(sock, wait), "server")
    }

    fn upgrade(
        &mut self,
        handshake: impl FnOnce(TcpStream, Duration) -> super::tls::HandshakeResult,
        role: &str,
    ) -> Result<(), String> {
        let Stream::Plain(sock) = &self.stream else {
            return Err("TLS is already running on this connection".to_owned());
        };
        let sock = sock.try_clone().map_err(|e| e.to_string())?;
        match handshake(sock, self.wait) {
            Ok(tls) => {
                self.stream = Stream::Tls(Box::new(tls));
                self.log.line(format_args!(
                    "{}: TLS 1.3 handshake done (suite is TLS {role})",
                    self.label
                ));
                Ok(())
            }
            Err(reason) => {
                self.log.line(format_args!(
                    "{}: TLS handshake failed (suite is TLS {role}): {reason}",
                    self.label
                ));
                // The connection stays readable as plain TCP, so a case
                // can watch whether the peer closes it [T-9].
                Err(reason)
            }
        }
    }

    /// The connection's RFC 9266 `tls-exporter` channel binding [T-6];
    /// `None` on plain TCP.
    pub fn binding(&self) -> Option<ChannelBinding> {
        self.stream.binding()
    }

    /// `auth` as this connection's login must use it: ending with the
    /// channel binding over TLS [T-6], unchanged on plain TCP.
    pub fn bind(&self, auth: AuthMessage) -> AuthMessage {
        match self.binding() {
            Some(cb) => auth.bind(&cb),
            None => auth,
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The local address (what the peer sees as ours).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The connection's name in the log.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The default wait of the `expect_*` helpers.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Lets the `expect_*` helpers pass over frames of this type.
    pub fn tolerate(&mut self, ty: FrameType) {
        if !self.tolerated.contains(&ty) {
            self.tolerated.push(ty);
        }
    }

    /// Stops tolerating frames of this type.
    pub fn intolerate(&mut self, ty: FrameType) {
        self.tolerated.retain(|t| *t != ty);
    }

    /// Tells the control connection the session's lease (LOGIN_OK.lease_ms),
    /// so that an end the lease explains is reported as such [C-5].
    pub fn set_lease(&mut self, lease: Duration) {
        self.lease = Some((lease, Arc::clone(&self.sent)));
    }

    /// Lets a callback connection know its session's lease, counted on
    /// `control` (see [`set_lease`](Self::set_lease)).
    pub fn follow_lease(&mut self, control: &FrameConn) {
        self.lease = control.lease.clone();
    }

    /// What `got` means for a wait that began at `since`: [`Got`]'s own text,
    /// except for a close (or BYE lease expired) that came once the lease had
    /// run out since the suite last wrote on the control connection. That is
    /// the lease [C-5], not an answer: the reader needs to know that nothing
    /// else came first. A wait that saw nothing and outlasted the lease says
    /// so too.
    pub fn explain(&self, got: &Got, since: Instant) -> String {
        let Some((lease, control_sent)) = &self.lease else {
            return got.to_string();
        };
        let silent = control_sent
            .lock()
            .map_or(Duration::ZERO, |sent| sent.elapsed());
        if let Got::Nothing(_) = got
            && silent >= *lease
        {
            // The wait outlasted the lease: an end may be on its way (a
            // server's timer runs a little late), and nothing else came.
            return format!(
                "{got}, by when the lease ({}) had run out: {} since the suite's last frame on the control connection, so the server may end the session without an answer [C-5]",
                secs(*lease),
                secs(silent)
            );
        }
        let lease_end = match got {
            Got::Frame(Frame::Bye {
                reason: ByeReason::LeaseExpired,
            }) => true,
            Got::Closed(_) => silent + Duration::from_millis(250) >= *lease,
            _ => false,
        };
        if !lease_end {
            return got.to_string();
        }
        format!(
            "nothing within {}; then {got}, {} after the suite's last frame on the control connection: the lease ({}) ran out first [C-5]",
            secs(since.elapsed()),
            secs(silent),
            secs(*lease)
        )
    }

    /// Writes a line to the case log.
    pub fn note(&self, what: impl fmt::Display) {
        self.log.line(format_args!("{}: {what}", self.label));
    }

    // ---- sending -------------------------------------------------------------------------

    /// From now on, sends every frame in writes of `chunk` bytes with
    /// `pause` after each (`None`: whole frames).
    pub fn set_split(&mut self, split: Option<(usize, Duration)>) {
        self.split = split;
    }

    /// Encodes and sends one frame.
    pub fn send(&mut self, frame: &Frame<'_>) -> Result<(), Fail> {
        let bytes = frame
            .to_vec()
            .map_err(|e| Fail::failed(format!("to encode {frame}"), e.to_string()))?;
        self.log.line(format_args!("{} > {frame}", self.label));
        match self.split {
            Some((chunk, pause)) => {
                for piece in bytes.chunks(chunk.max(1)) {
                    self.write(piece, &frame.frame_type().to_string())?;
                    std::thread::sleep(pause);
                }
                Ok(())
            }
            None => self.write(&bytes, &frame.frame_type().to_string()),
        }
    }

    /// Encodes several frames and sends them in one write (coalesced [F-5]).
    pub fn send_all(&mut self, frames: &[Frame<'_>]) -> Result<(), Fail> {
        let mut bytes = Vec::new();
        for frame in frames {
            frame
                .encode(&mut bytes)
                .map_err(|e| Fail::failed(format!("to encode {frame}"), e.to_string()))?;
            self.log
                .line(format_args!("{} > {frame} (coalesced)", self.label));
        }
        self.write(&bytes, "coalesced frames")
    }

    /// Sends bytes as they are (a hand-crafted or invalid frame); `what` describes them in the log.
    pub fn send_raw(&mut self, bytes: &[u8], what: &str) -> Result<(), Fail> {
        self.log.line(format_args!(
            "{} > {what} ({} bytes: {})",
            self.label,
            bytes.len(),
            hex_prefix(bytes)
        ));
        self.write(bytes, what)
    }

    /// Sends bytes without a log line (for trickling one byte at a time).
    pub fn send_raw_quiet(&mut self, bytes: &[u8], what: &str) -> Result<(), Fail> {
        self.write(bytes, what)
    }

    /// Sends bytes in writes of `chunk` bytes with `pause` after each ([F-5]).
    pub fn send_split(
        &mut self,
        bytes: &[u8],
        chunk: usize,
        pause: Duration,
        what: &str,
    ) -> Result<(), Fail> {
        self.log.line(format_args!(
            "{} > {what}, {} bytes in writes of {chunk} byte(s), {} ms apart",
            self.label,
            bytes.len(),
            pause.as_millis()
        ));
        for piece in bytes.chunks(chunk.max(1)) {
            self.write(piece, what)?;
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8], what: &str) -> Result<(), Fail> {
        if let Ok(mut sent) = self.sent.lock() {
            *sent = Instant::now();
        }
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| {
                self.log
                    .line(format_args!("{}: write failed: {e}", self.label));
                Fail::failed(
                    format!("the {} connection to accept {what}", self.label),
                    format!("a failed write ({e}); the peer had closed the connection"),
                )
            })
    }

    /// Half-closes: the peer reads end of stream.
    pub fn shutdown_write(&mut self) {
        self.log
            .line(format_args!("{}: suite half-closes", self.label));
        self.stream.shutdown_write();
    }

    /// Closes both directions.
    pub fn close(&mut self) {
        self.log.line(format_args!("{}: suite closes", self.label));
        let _ = self.stream.tcp().shutdown(Shutdown::Both);
    }

    // ---- receiving -----------------------------------------------------------------------

    /// The next thing that happens within `wait`. PINGs are answered when
    /// `auto_pong` is set, and then passed over.
    pub fn next_within(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        loop {
            let got = self.next_raw(deadline, wait);
            if let Got::Frame(Frame::Ping { nonce }) = got
                && self.auto_pong
            {
                if self.send(&Frame::Pong { nonce }).is_err() {
                    // The peer went away; the next read says so.
                }
                // Past the deadline even with PINGs still decoded: each
                // answer may wait for a peer that does not read.
                if self.passed_over_until(deadline, false, "PING") {
                    return Got::Nothing(wait);
                }
                continue;
            }
            return got;
        }
    }

    /// Like [`next_within`](Self::next_within), but passes over tolerated frames.
    pub fn next_relevant(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.next_within(left);
            match &got {
                Got::Frame(frame) if self.tolerated.contains(&frame.frame_type()) => {
                    let what = frame.frame_type().to_string();
                    if self.passed_over_until(deadline, true, &what) {
                        return Got::Nothing(wait);
                    }
                }
                Got::Nothing(_) => return Got::Nothing(wait),
                _ => return got,
            }
        }
    }

    /// Whether a wait that passed over a frame must end: its deadline has
    /// passed (and, with `drain`, no decoded frame is left, so that one
    /// already received is still seen). A peer that sends frames the wait
    /// passes over (PINGs, tolerated PONGs) without end would otherwise
    /// hold it open for ever, since every read finds one more.
    fn passed_over_until(&mut self, deadline: Instant, drain: bool, what: &str) -> bool {
        if Instant::now() < deadline || (drain && !self.pending.is_empty()) {
            return false;
        }
        self.log.line(format_args!(
            "{}: the wait ended while the peer was still sending {what} frames",
            self.label
        ));
        true
    }

    fn next_raw(&mut self, deadline: Instant, wait: Duration) -> Got {
        // Read at least once, even with no time left, so that bytes already
        // received are seen.
        let mut read_once = false;
        loop {
            if let Some(frame) = self.pending.pop_front() {
                self.log.line(format_args!("{} < {frame}", self.label));
                return Got::Frame(frame);
            }
            match &self.state {
                ReadState::Open => {}
                ReadState::Closed(reason) => return Got::Closed(reason.clone()),
                ReadState::Undecodable(err) => return Got::Undecodable(err.clone()),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && read_once {
                return Got::Nothing(wait);
            }
            read_once = true;
            if self
                .stream
                .tcp()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .is_err()
            {
                self.state = ReadState::Closed(Some("socket unusable".into()));
                continue;
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.log
                        .line(format_args!("{}: peer closed (end of stream)", self.label));
                    self.state = ReadState::Closed(None);
                }
                Ok(n) => self.feed(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.log
                        .line(format_args!("{}: read failed: {e}", self.label));
                    self.state = ReadState::Closed(Some(e.to_string()));
                }
            }
        }
    }

    fn feed(&mut self, n: usize) {
        let mut input = &self.buf[..n];
        loop {
            match self.decoder.decode(&mut input) {
                Ok(Some(frame)) => self.pending.push_back(frame.into_owned()),
                Ok(None) => return,
                Err(err) => {
                    self.log
                        .line(format_args!("{} < undecodable: {err}", self.label));
                    self.state = ReadState::Undecodable(err);
                    return;
                }
            }
        }
    }

    /// Reads bytes as they come, without decoding (for what a peer sends
    /// instead of, or before, TLS), for up to `wait`: until the peer closes
    /// or, with `first_only`, until the first bytes arrived. Returns the
    /// first [`MAX_RAW`] of them (the rest is read and dropped: a peer
    /// sending without end must not fill the suite's memory) and whether
    /// the peer closed (end of stream or reset).
    pub fn read_raw(&mut self, wait: Duration, first_only: bool) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || (first_only && !got.is_empty()) {
                return (got, false);
            }
            if self.stream.tcp().set_read_timeout(Some(left)).is_err() {
                return (got, true);
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => return (got, true),
                Ok(n) => {
                    let room = MAX_RAW.saturating_sub(got.len()).min(n);
                    got.extend_from_slice(&self.buf[..room]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return (got, true),
            }
        }
    }

    // ---- expectations --------------------------------------------------------------------

    /// Waits for a frame that `accept` maps to a value; anything else fails,
    /// with `expected` describing what should have come.
    pub fn expect<T>(
        &mut self,
        expected: &str,
        accept: impl FnOnce(&Frame<'static>) -> Option<T>,
    ) -> Result<T, Fail> {
        let wait = self.wait;
        self.expect_within(wait, expected, accept)
    }

    /// [`expect`](Self::expect) with an explicit wait.
    pub fn expect_within<T>(
        &mut self,
        wait: Duration,
        expected: &str,
        accept: impl FnOnce(&Frame<'static>) -> Option<T>,
    ) -> Result<T, Fail> {
        let since = Instant::now();
        let got = self.next_relevant(wait);
        if let Got::Frame(frame) = &got
            && let Some(value) = accept(frame)
        {
            return Ok(value);
        }
        Err(Fail::failed(expected, self.explain(&got, since)))
    }

    /// Waits for any frame.
    pub fn expect_frame(&mut self, expected: &str) -> Result<Frame<'static>, Fail> {
        self.expect(expected, |f| Some(f.clone()))
    }

    /// Waits for `ERROR code` followed by the close of the connection [F-6].
    pub fn expect_error(&mut self, code: ErrorCode) -> Result<ErrorFrame<'static>, Fail> {
        let wait = self.wait;
        self.expect_error_within(wait, code)
    }

    /// [`expect_error`](Self::expect_error) with an explicit wait for the ERROR.
    pub fn expect_error_within(
        &mut self,
        wait: Duration,
        code: ErrorCode,
    ) -> Result<ErrorFrame<'static>, Fail> {
        let expected = format!("ERROR {code} then close");
        let since = Instant::now();
        let got = self.next_relevant(wait);
        match got {
            Got::Frame(Frame::Error(err)) if err.code == code => {
                self.expect_closed(&format!("the connection to close after ERROR {code} [F-6]"))?;
                Ok(err)
            }
            Got::Frame(Frame::Error(err)) => Err(Fail::failed(
                expected,
                format!("ERROR {} message={:?}", err.code, err.message),
            )),
            other => Err(Fail::failed(expected, self.explain(&other, since))),
        }
    }

    /// Waits for an ERROR with any of `codes`, then the close.
    pub fn expect_error_in(&mut self, codes: &[ErrorCode]) -> Result<ErrorFrame<'static>, Fail> {
        let names: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        let expected = format!("ERROR {} then close", names.join(" or "));
        let since = Instant::now();
        let got = self.next_relevant(self.wait);
        match got {
            Got::Frame(Frame::Error(err)) if codes.contains(&err.code) => {
                self.expect_closed(&format!(
                    "the connection to close after ERROR {} [F-6]",
                    err.code
                ))?;
                Ok(err)
            }
            other => Err(Fail::failed(expected, self.explain(&other, since))),
        }
    }

    /// Waits for the peer to close (tolerated frames may come first).
    pub fn expect_closed(&mut self, expected: &str) -> Result<(), Fail> {
        let wait = self.wait;
        self.expect_closed_within(wait, expected)
    }

    /// [`expect_closed`](Self::expect_closed) with an explicit wait.
    pub fn expect_closed_within(&mut self, wait: Duration, expected: &str) -> Result<(), Fail> {
        match self.next_relevant(wait) {
            Got::Closed(_) => Ok(()),
            other => Err(Fail::failed(expected, other.to_string())),
        }
    }

    /// Checks that nothing but tolerated frames arrives for `wait`, and the
    /// connection stays open.
    pub fn expect_quiet(&mut self, wait: Duration, expected: &str) -> Result<(), Fail> {
        let since = Instant::now();
        match self.next_relevant(wait) {
            Got::Nothing(_) => Ok(()),
            other => Err(Fail::failed(expected, self.explain(&other, since))),
        }
    }

    /// Sends a PING and waits for its PONG: proves the peer still serves this
    /// connection (frames the peer sends first are judged by `expected`).
    pub fn ping_pong(&mut self, nonce: u64, expected: &str) -> Result<(), Fail> {
        self.send(&Frame::Ping { nonce })?;
        self.intolerate(FrameType::Pong);
        let result = self.expect(expected, |f| match f {
            Frame::Pong { nonce: n } if *n == nonce => Some(()),
            _ => None,
        });
        self.tolerate(FrameType::Pong);
        result
    }
}

/// Waits on several connections at once and returns the first thing that
/// happens on any of them (tolerated frames passed over), with its index.
pub fn first_event(conns: &mut [&mut FrameConn], wait: Duration) -> Option<(usize, Got)> {
    const SLICE: Duration = Duration::from_millis(20);
    let deadline = Instant::now() + wait;
    loop {
        for (i, conn) in conns.iter_mut().enumerate() {
            match conn.next_relevant(SLICE) {
                Got::Nothing(_) => {}
                got => return Some((i, got)),
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    const SHOWN: usize = 24;
    if bytes.len() <= SHOWN {
        hex::encode(bytes)
    } else {
        format!("{}...", hex::encode(&bytes[..SHOWN]))
    }
}
