//! Carrying out what the processes ask for (their outputs) and delivering
//! what the network carries to them (their inputs), with the invariants each
//! output and each call must keep.

use std::net::SocketAddr;

use faxnotify_core::client::{self, BindError, Client};
use faxnotify_core::server::{self, Refused};
use faxnotify_core::tls::TlsFailure;
use faxnotify_core::wire::{CbReady, ErrorCode, Frame, Notification};
use faxnotify_core::{ConnId, SessionId};

use super::ledger::SessionKey;
use super::net::{
    ConnKind, ConnState, End, EndId, NodeId, Pipe, PortOwner, SERVER_ADDR, Segment, SimConn,
    host_ip,
};
use super::scenario::{Firewall, Squatter};
use super::tls::whole_records;
use super::wiretap::{Mark, fnv1a, marks, whole_frames};
use super::world::{Ev, Sim};

/// Whether an ERROR with `code` can pass between a client and a server
/// that both follow the protocol. Timeouts, limits, unknown sessions and
/// shutdown happen under faults; AUTH_FAILED happens on callbacks (a dial
/// that reaches another client's port, or a CB_HELLO made with the key a
/// resume just replaced) but never on a login with the right password.
/// Everything else means one side broke a rule.
fn honest_error(code: ErrorCode, callback: bool) -> Result<(), &'static str> {
    match code {
        ErrorCode::Timeout
        | ErrorCode::LimitExceeded
        | ErrorCode::UnknownSession
        | ErrorCode::ShuttingDown => Ok(()),
        ErrorCode::AuthFailed if callback => Ok(()),
        ErrorCode::AuthFailed => Err("a login with the right password failed"),
        _ => Err("peers that both follow the protocol never send this"),
    }
}

/// Whether a TLS session between a client and a server that both follow
/// the protocol (with the certificates of `super::tls`) can fail this way:
/// only by running out of time under delays and partitions, on one side
/// (a timeout) and then the other (the peer's close_notify mid-handshake).
/// Anything else (a certificate refused, a record broken) means one side
/// broke a rule.
fn honest_tls_failure(reason: &TlsFailure) -> Result<(), &'static str> {
    match reason {
        TlsFailure::Timeout { .. } | TlsFailure::PeerClosed => Ok(()),
        _ => Err("TLS between peers that both follow the protocol never fails this way"),
    }
}

/// The variant of a TLS failure, for counting.
fn failure_kind(reason: &TlsFailure) -> String {
    let text = format!("{reason:?}");
    text.split([' ', '{', '(']).next().unwrap_or("?").to_owned()
}

/// A name for the server events worth counting (how often each rule and
/// failure path was exercised).
fn server_outcome(event: &server::Event) -> Option<String> {
    Some(match event {
        server::Event::ProtocolError { error, .. } => match error {
            server::PeerError::Sent { code, .. } => format!("server sent ERROR {code}"),
            server::PeerError::Received { code, .. } => format!("server received ERROR {code}"),
            _ => "server ERROR".to_owned(),
        },
        server::Event::SessionClosed { reason, .. } => {
            let reason = match reason {
                server::CloseReason::Replaced { .. } => "replaced".to_owned(),
                server::CloseReason::ProtocolError(e) => format!("error {}", e.code()),
                other => other.to_string(),
            };
            format!("session closed: {reason}")
        }
        server::Event::SessionResumed { .. } => "session resumed".to_owned(),
        server::Event::LoginFailed { reason, .. } => match reason {
            server::LoginFailure::UnknownSession { .. } => {
                "login failed: unknown session".to_owned()
            }
            other => format!("login failed: {other}"),
        },
        server::Event::ConnectionRefused { reason, .. } => format!("connection refused: {reason}"),
        server::Event::CallbackStatus { state, .. } => format!("callback status {state}"),
        server::Event::TlsFailed { reason, .. } => {
            format!("server TLS failed: {}", failure_kind(reason))
        }
        _ => return None,
    })
}

/// A name for the client events worth counting.
fn client_outcome(event: &client::Event) -> Option<String> {
    Some(match event {
        client::Event::CallbackRejected { reason, .. } => format!("callback rejected: {reason:?}"),
        client::Event::CallbackClosed { reason, .. } => {
            format!("callback closed: {}", reason.name())
        }
        client::Event::ErrorReceived { code, .. } => format!("client received ERROR {code}"),
        client::Event::TlsFailed { reason, .. } => {
            format!("client TLS failed: {}", failure_kind(reason))
        }
        client::Event::ConnectionLost { reason, .. } => format!("connection lost: {reason:?}"),
        client::Event::Stopped { reason } => {
            let text = format!("{reason:?}");
            let name = text.split([' ', '{', '(']).next().unwrap_or("?").to_owned();
            format!("client stopped: {name}")
        }
        client::Event::SessionEnded { reason, .. } => format!("client session ended: {reason:?}"),
        _ => return None,
    })
}

/// A pipe holding more than this is a sign of unbounded buffering.
const MAX_PIPE_BYTES: usize = 4 << 20;

/// Watches one server call that is fed bytes, to tell whether the
/// acknowledgements in them were certainly read.
#[derive(Debug)]
pub(super) struct FeedWatch {
    conn: ConnId,
    session: Option<SessionId>,
    disturbed: bool,
}

impl Sim {
    // ----- draining the processes -------------------------------------------

    pub(super) fn drain_server(&mut self) {
        loop {
            let Some(core) = self.server.core.as_mut() else {
                return;
            };
            let Some(out) = core.poll_output() else {
                break;
            };
            self.route_server(out);
        }
        self.check_server_bounds();
    }

    pub(super) fn drain_client(&mut self, i: usize) {
        loop {
            let Some(core) = self.clients[i].core.as_mut() else {
                return;
            };
            let Some(out) = core.poll_output() else {
                break;
            };
            self.route_client(i, out);
        }
        let c = &self.clients[i];
        let limit = 1 + c.config.max_pending_callbacks + c.config.max_callbacks;
        if c.open.len() > limit {
            let open = c.open.len();
            self.fail(format!(
                "client {i} holds {open} connections; at most {limit} (control, pending and ready callbacks)"
            ));
        }
    }

    fn check_server_bounds(&mut self) {
        let Some(core) = self.server.core.as_ref() else {
            return;
        };
        let (limit, window) = (self.cfg.queue_limit, u64::from(self.cfg.window));
        let mut problem = None;
        for s in core.sessions() {
            if s.queue_depth > limit {
                problem = Some(format!(
                    "session {} holds {} notifications, above the queue limit {limit} [B-6]",
                    s.id, s.queue_depth
                ));
            } else if s.unacked > window {
                problem = Some(format!(
                    "session {} has {} notifications in flight, above the window {window} [B-4]",
                    s.id, s.unacked
                ));
            }
        }
        if core.connection_count() != self.server.open.len() {
            problem = Some(format!(
                "the server counts {} connections, but {} are open by its outputs and inputs \
                 (a connection dropped without Close, or kept after one)",
                core.connection_count(),
                self.server.open.len()
            ));
        }
        if let Some(p) = problem {
            self.fail(p);
        }
    }

    // ----- outputs ---------------------------------------------------------

    fn route_server(&mut self, out: server::Output) {
        let inc = self.server.incarnation;
        let end = |conn| EndId {
            node: NodeId::Server,
            incarnation: inc,
            conn,
        };
        match out {
            server::Output::Connect { conn, addr } => {
                if !self.server.open.insert(conn) {
                    return self.fail(format!("server: Connect reuses open {conn}"));
                }
                let Some(host) = (0..self.hosts.len()).find(|&h| host_ip(h) == addr.ip()) else {
                    return self.fail(format!("server dials {addr}, no client's address [C-1]"));
                };
                self.log("server", format_args!("dials {addr} as {conn}"));
                let c = self.new_conn(ConnKind::Callback, host, None, addr, end(conn));
                let lat = self.hosts[host].latency(self.now);
                self.schedule_across(host, lat, Ev::Arrive(c));
            }
            server::Output::Transmit { conn, data } => {
                if !self.server.open.contains(&conn) {
                    return self.fail(format!("server: Transmit on {conn}, which is not open"));
                }
                self.transmit(end(conn), data);
            }
            // Both kinds travel alike here: data for a closed end is
            // answered with a reset anyway, as after a prompt close.
            server::Output::Close { conn, kind } => {
                if !self.server.open.remove(&conn) {
                    return self.fail(format!("server: Close of {conn}, which is not open"));
                }
                if kind == server::CloseKind::Prompt
                    && let Some(&(c, _)) = self.ends.get(&end(conn))
                    && (self.conns[c].kind == ConnKind::Callback || self.conns[c].session.is_some())
                {
                    return self.fail(format!(
                        "server: {conn} closed without waiting for the peer, but it serves a session"
                    ));
                }
                if let Some(w) = &mut self.feed_watch
                    && w.conn == conn
                {
                    w.disturbed = true;
                }
                self.close(end(conn));
            }
            server::Output::Event(event) => self.server_event(event),
            other => self.fail(format!("server: unknown output {other:?}")),
        }
    }

    fn route_client(&mut self, i: usize, out: client::Output) {
        let inc = self.clients[i].incarnation;
        let end = |conn| EndId {
            node: NodeId::Client(i),
            incarnation: inc,
            conn,
        };
        let who = format!("client{i}");
        match out {
            client::Output::Listen { addr } => {
                self.log(&who, format_args!("listen {addr}"));
                self.schedule(
                    self.now,
                    Ev::Bind {
                        client: i,
                        incarnation: inc,
                        addr,
                    },
                );
            }
            client::Output::StopListening => {
                self.log(&who, "stop listening");
                let h = self.clients[i].host;
                self.hosts[h].unbind_all(PortOwner::Client(i, inc));
            }
            client::Output::Connect { conn, addr } => {
                if !self.clients[i].open.insert(conn) {
                    return self.fail(format!("{who}: Connect reuses open {conn}"));
                }
                if addr != SERVER_ADDR {
                    return self.fail(format!("{who} dials {addr}, not the server"));
                }
                let h = self.clients[i].host;
                let c = self.new_conn(ConnKind::Control, h, Some(i), addr, end(conn));
                let lat = self.hosts[h].latency(self.now);
                self.schedule_across(h, lat, Ev::Arrive(c));
            }
            client::Output::Transmit { conn, data } => {
                if !self.clients[i].open.contains(&conn) {
                    return self.fail(format!("{who}: Transmit on {conn}, which is not open"));
                }
                self.transmit(end(conn), data);
            }
            client::Output::Close { conn, kind } => {
                if !self.clients[i].open.remove(&conn) {
                    return self.fail(format!("{who}: Close of {conn}, which is not open"));
                }
                // A callback that never proved to be the server's is
                // released at once (strangers must not hold descriptors);
                // the server's connections wait for its last frames.
                if let Some(&(c, _)) = self.ends.get(&end(conn)) {
                    let stranger =
                        self.conns[c].kind == ConnKind::Callback && !self.conns[c].established;
                    let prompt = kind == client::CloseKind::Prompt;
                    if prompt != stranger {
                        return self.fail(format!(
                            "{who}: {conn} closed {}, but it {} the server's",
                            if prompt { "at once" } else { "gracefully" },
                            if stranger { "was never proved" } else { "is" },
                        ));
                    }
                }
                self.close(end(conn));
            }
            client::Output::Event(event) => self.client_event(i, event),
            other => self.fail(format!("{who}: unknown output {other:?}")),
        }
    }

    fn server_event(&mut self, event: server::Event) {
        self.log("server", &event);
        let inc = self.server.incarnation;
        let key = |id| SessionKey { server: inc, id };
        if let Some(what) = server_outcome(&event) {
            *self.observed.entry(what).or_default() += 1;
        }
        let result = match &event {
            server::Event::TlsFailed { conn, reason, .. } => {
                if self.server_talks_to_squatter(*conn) {
                    Ok(())
                } else {
                    honest_tls_failure(reason)
                        .map_err(|why| format!("server: TLS failed on {conn} ({reason}): {why}"))
                }
            }
            server::Event::ProtocolError { conn, error, .. } => {
                let end = EndId {
                    node: NodeId::Server,
                    incarnation: inc,
                    conn: *conn,
                };
                let squatter = self.server_talks_to_squatter(*conn);
                let kind = self.ends.get(&end).map(|&(c, _)| self.conns[c].kind);
                if squatter {
                    Ok(())
                } else {
                    honest_error(error.code(), kind == Some(ConnKind::Callback))
                        .map_err(|why| format!("server: {error} on {conn}: {why}"))
                }
            }
            server::Event::SessionOpened { session, user, .. } => {
                let client = user
                    .strip_prefix("user")
                    .and_then(|n| n.parse::<usize>().ok());
                match client {
                    Some(client) if client < self.clients.len() => {
                        self.session_count += 1;
                        self.server
                            .sessions_of
                            .entry(client)
                            .or_default()
                            .push(*session);
                        self.ledger.opened(key(*session), client)
                    }
                    _ => Err(format!("session opened for unknown user {user:?}")),
                }
            }
            server::Event::Delivered {
                session,
                first_seq,
                last_seq,
            } => self.ledger.delivered(key(*session), *first_seq, *last_seq),
            server::Event::Undelivered {
                session,
                notifications,
                ..
            } => {
                let list: Vec<(u64, Option<u64>)> = notifications
                    .iter()
                    .map(|u| {
                        (
                            u.seq,
                            Self::payload_id(&Notification::decode(u.kind, &u.payload)),
                        )
                    })
                    .collect();
                self.ledger.undelivered(key(*session), &list)
            }
            server::Event::SessionClosed { session, .. } => {
                for list in self.server.sessions_of.values_mut() {
                    list.retain(|s| s != session);
                }
                if let Some(w) = &mut self.feed_watch
                    && w.session == Some(*session)
                {
                    w.disturbed = true;
                }
                self.ledger.closed(key(*session))
            }
            _ => Ok(()),
        };
        self.check(result);
    }

    /// Whether the server's `conn` reached a foreign process, not a client.
    fn server_talks_to_squatter(&self, conn: ConnId) -> bool {
        let end = EndId {
            node: NodeId::Server,
            incarnation: self.server.incarnation,
            conn,
        };
        self.ends.get(&end).is_some_and(|&(c, _)| {
            matches!(
                self.conns[c].ends[1].id.map(|e| e.node),
                Some(NodeId::Squatter(_))
            )
        })
    }

    fn client_event(&mut self, i: usize, event: client::Event) {
        let inc = self.clients[i].incarnation;
        if let client::Event::Notification { seq, notification } = &event {
            let id = Self::payload_id(notification);
            self.log(
                format_args!("client{i}"),
                format_args!("notification seq {seq} {id:?}"),
            );
            let Some(c) = self.feeding else {
                return self.fail(format!("client {i}: a notification outside a read"));
            };
            let Some(session) = self.conns[c].session else {
                return self.fail(format!(
                    "client {i}: a notification on a connection that serves no session"
                ));
            };
            let key = SessionKey {
                server: self.conns[c].server_incarnation,
                id: session,
            };
            let result = self.ledger.handed(key, i, inc, *seq, id);
            return self.check(result);
        }
        self.log(format_args!("client{i}"), format_args!("{event:?}"));
        if let Some(what) = client_outcome(&event) {
            *self.observed.entry(what).or_default() += 1;
        }
        let result = match &event {
            client::Event::LoggedIn { session, .. } => match self.feeding {
                Some(c) => self.serves(c, *session, "LoggedIn"),
                None => Err(format!("client {i}: LoggedIn outside a read")),
            },
            client::Event::CallbackEstablished { conn, .. } => {
                let end = EndId {
                    node: NodeId::Client(i),
                    incarnation: inc,
                    conn: *conn,
                };
                let session = self.clients[i].core.as_ref().and_then(Client::session);
                match (self.ends.get(&end), session) {
                    (Some(&(c, _)), Some(session)) => {
                        self.conns[c].established = true;
                        self.serves(c, session, "CallbackEstablished")
                    }
                    _ => Err(format!(
                        "client {i}: CallbackEstablished on {conn} without a session"
                    )),
                }
            }
            client::Event::TlsFailed { reason, .. } => honest_tls_failure(reason)
                .map_err(|why| format!("client {i}: TLS failed ({reason}): {why}")),
            // The client's only peer is the server, which follows the protocol.
            client::Event::ProtocolError { error, .. } => Err(format!(
                "client {i} reports a protocol error of the server: {error}"
            )),
            client::Event::ErrorReceived {
                code, connection, ..
            } => honest_error(*code, *connection == client::ConnectionKind::Callback)
                .map_err(|why| format!("client {i} received ERROR {code}: {why}")),
            // Ports can be taken and sessions ended or replaced; nothing else
            // stops a client whose server follows the protocol.
            client::Event::Stopped { reason } => match reason {
                client::StopReason::FixedPortInUse { .. }
                | client::StopReason::RangeExhausted { .. }
                | client::StopReason::SessionEnded { .. } => Ok(()),
                other => Err(format!("client {i} stopped: {other}")),
            },
            _ => Ok(()),
        };
        self.check(result);
    }

    /// The client says connection `c` serves `session` (its LOGIN_OK or
    /// CB_HELLO named it). Over TLS that is how the simulator learns it; in
    /// plain runs the wiretap read it from the server's frame already, and
    /// the two must agree.
    fn serves(&mut self, c: usize, session: SessionId, what: &str) -> Result<(), String> {
        if self.tls {
            self.conns[c].session = Some(session);
            return Ok(());
        }
        match self.conns[c].session {
            Some(seen) if seen == session => Ok(()),
            seen => Err(format!(
                "{what} names session {session}, but the server's frames on the connection named {seen:?}"
            )),
        }
    }

    // ----- the network -----------------------------------------------------

    fn new_conn(
        &mut self,
        kind: ConnKind,
        host: usize,
        client: Option<usize>,
        target: SocketAddr,
        dialler: EndId,
    ) -> usize {
        let c = self.conns.len();
        self.conns.push(SimConn {
            kind,
            host,
            client,
            target,
            ends: [
                End {
                    id: Some(dialler),
                    open: true,
                },
                End {
                    id: None,
                    open: false,
                },
            ],
            pipes: [Pipe::default(), Pipe::default()],
            state: ConnState::Dialling,
            server_incarnation: self.server.incarnation,
            session: None,
            established: false,
        });
        self.ends.insert(dialler, (c, 0));
        c
    }

    fn transmit(&mut self, end: EndId, data: Vec<u8>) {
        // Over TLS the frames are sealed: whole records is what can be
        // checked, and the session a connection serves is learnt from the
        // client's events instead (see `client_event`).
        let frames = if self.tls {
            whole_records(&data).map(|_| Vec::new())
        } else {
            whole_frames(&data)
        };
        let frames = match frames {
            Ok(frames) => frames,
            Err(err) => return self.fail(format!("{:?}: {err}", end.node)),
        };
        self.digest = fnv1a(self.digest, &data);
        let Some(&(c, side)) = self.ends.get(&end) else {
            return self.fail(format!("{:?}: Transmit on unknown {}", end.node, end.conn));
        };
        if end.node == NodeId::Server {
            for mark in marks(&frames) {
                if let Mark::Session(id) = mark {
                    self.conns[c].session = SessionId::new(id);
                }
            }
        }
        match self.conns[c].state {
            ConnState::Dialling => self.fail(format!(
                "{:?}: Transmit on {} before it was connected",
                end.node, end.conn
            )),
            ConnState::Open => self.push_data(c, side, data),
            ConnState::Failed | ConnState::Reset => {}
        }
    }

    fn close(&mut self, end: EndId) {
        let Some(&(c, side)) = self.ends.get(&end) else {
            return self.fail(format!("{:?}: Close of unknown {}", end.node, end.conn));
        };
        self.conns[c].ends[side].open = false;
        match self.conns[c].state {
            ConnState::Dialling => self.conns[c].state = ConnState::Failed,
            ConnState::Open => self.push_segment(c, side, Segment::Fin),
            ConnState::Failed | ConnState::Reset => {}
        }
    }

    /// Cuts `data` into segments of random size (often tiny, sometimes whole).
    pub(super) fn push_data(&mut self, c: usize, side: usize, data: Vec<u8>) {
        let mut rest = data.as_slice();
        while !rest.is_empty() {
            let n = match self.rng.below(10) {
                0..=2 => self.rng.range(1, 8),
                3..=6 => self.rng.range(1, 300),
                _ => rest.len() as u64,
            } as usize;
            let (head, tail) = rest.split_at(n.min(rest.len()));
            self.push_segment(c, side, Segment::Data(head.to_vec()));
            rest = tail;
        }
        let bytes = self.conns[c].pipes[side].bytes();
        if bytes > MAX_PIPE_BYTES {
            self.fail(format!(
                "{bytes} bytes wait in one direction of a connection"
            ));
        }
    }

    fn push_segment(&mut self, c: usize, side: usize, seg: Segment) {
        let h = self.conns[c].host;
        let jitter = std::time::Duration::from_micros(self.rng.below(1_000));
        let at = self.now + self.hosts[h].latency(self.now) + jitter;
        let pipe = &mut self.conns[c].pipes[side];
        let at = at.max(pipe.last_at);
        pipe.last_at = at;
        pipe.queue.push_back((at, seg));
        self.ensure_scheduled(c, side);
    }

    pub(super) fn ensure_scheduled(&mut self, c: usize, side: usize) {
        let pipe = &mut self.conns[c].pipes[side];
        if pipe.scheduled || pipe.stalled {
            return;
        }
        if let Some(&(at, _)) = pipe.queue.front() {
            pipe.scheduled = true;
            self.schedule(at, Ev::Deliver(c, side));
        }
    }

    pub(super) fn deliver(&mut self, c: usize, d: usize) {
        self.conns[c].pipes[d].scheduled = false;
        if self.conns[c].state == ConnState::Reset {
            self.conns[c].pipes[d].queue.clear();
            return;
        }
        let h = self.conns[c].host;
        if self.hosts[h].link.partitioned {
            self.conns[c].pipes[d].stalled = true;
            return;
        }
        let Some((_, seg)) = self.conns[c].pipes[d].queue.pop_front() else {
            return;
        };
        let receiver = self.conns[c].ends[1 - d];
        let sender = self.conns[c].ends[d];
        match seg {
            Segment::Fin => {
                if let (true, Some(id)) = (receiver.open, receiver.id) {
                    self.notify_closed(id, false);
                }
            }
            Segment::Data(mut bytes) => {
                // Sometimes coalesce what else is due into one read.
                while self.rng.chance(50) {
                    let pipe = &mut self.conns[c].pipes[d];
                    match pipe.queue.front() {
                        Some((at, Segment::Data(_))) if *at <= self.now => {
                            if let Some((_, Segment::Data(more))) = pipe.queue.pop_front() {
                                bytes.extend_from_slice(&more);
                            }
                        }
                        _ => break,
                    }
                }
                match (receiver.open, receiver.id) {
                    (true, Some(id)) => self.feed(c, d, id, bytes),
                    _ => {
                        // Data for a closed socket: the peer's OS answers RST.
                        if let (true, Some(id)) = (sender.open, sender.id) {
                            self.conns[c].state = ConnState::Reset;
                            self.conns[c].pipes[0].queue.clear();
                            self.conns[c].pipes[1].queue.clear();
                            let lat = self.hosts[h].latency(self.now);
                            self.schedule_across(h, lat, Ev::Closed(id));
                        }
                    }
                }
            }
        }
        self.ensure_scheduled(c, d);
    }

    /// Hands bytes that arrived on pipe `d` of `c` to the receiving end.
    fn feed(&mut self, c: usize, d: usize, to: EndId, bytes: Vec<u8>) {
        match to.node {
            NodeId::Server => self.feed_server(c, d, to, bytes),
            NodeId::Client(i) => {
                if self.clients[i].incarnation != to.incarnation {
                    return;
                }
                let now = self.clock(to.node);
                let Some(core) = self.clients[i].core.as_mut() else {
                    return;
                };
                self.feeding = Some(c);
                let result = core.handle_input(
                    now,
                    client::Input::Received {
                        conn: to.conn,
                        data: &bytes,
                    },
                );
                self.drain_client(i);
                self.feeding = None;
                if let Err(err) = result {
                    self.fail(format!("client {i} refused bytes on {}: {err}", to.conn));
                }
            }
            NodeId::Squatter(k) => self.squatter_received(k, c, 1 - d, to, &bytes),
        }
    }

    fn feed_server(&mut self, c: usize, d: usize, to: EndId, bytes: Vec<u8>) {
        if self.server.incarnation != to.incarnation || self.server.core.is_none() {
            return;
        }
        // What the server is given to read, for the accounting.
        let mut acks = Vec::new();
        let pipe = &mut self.conns[c].pipes[d];
        if !pipe.rx_failed && !self.tls {
            let mut input = bytes.as_slice();
            loop {
                match pipe.rx.decode(&mut input) {
                    Ok(Some(frame)) => {
                        if let [Mark::Ack(seq)] = marks([&frame]).as_slice() {
                            acks.push(*seq);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        pipe.rx_failed = true;
                        break;
                    }
                }
            }
        }
        let key = self.conns[c].session.map(|id| SessionKey {
            server: self.conns[c].server_incarnation,
            id,
        });
        if let Some(key) = key {
            for &seq in &acks {
                self.ledger.ack_fed(key, seq, false);
            }
        }
        self.feed_watch = Some(FeedWatch {
            conn: to.conn,
            session: key.map(|k| k.id),
            disturbed: false,
        });
        let now = self.clock(NodeId::Server);
        let result = self.server.core.as_mut().map(|core| {
            core.handle_input(
                now,
                server::Input::Received {
                    conn: to.conn,
                    data: &bytes,
                },
            )
        });
        self.drain_server();
        let watch = self.feed_watch.take();
        if let Some(Err(err)) = result {
            return self.fail(format!("server refused bytes on {}: {err}", to.conn));
        }
        if let (Some(key), Some(w)) = (key, watch)
            && !w.disturbed
        {
            for &seq in &acks {
                self.ledger.ack_fed(key, seq, true);
            }
        }
    }

    /// Tells an end its connection closed (`dial_failed`: its dial failed).
    pub(super) fn notify_closed(&mut self, end: EndId, dial_failed: bool) {
        let Some(&(c, side)) = self.ends.get(&end) else {
            return;
        };
        if !self.conns[c].ends[side].open {
            return;
        }
        self.conns[c].ends[side].open = false;
        if dial_failed {
            self.conns[c].state = ConnState::Failed;
        }
        match end.node {
            NodeId::Server => {
                if self.server.incarnation != end.incarnation {
                    return;
                }
                let now = self.clock(end.node);
                self.server.open.remove(&end.conn);
                let Some(core) = self.server.core.as_mut() else {
                    return;
                };
                let input = if dial_failed {
                    server::Input::ConnectFailed {
                        conn: end.conn,
                        error: server::ConnectError::Refused,
                    }
                } else {
                    server::Input::Closed { conn: end.conn }
                };
                let result = core.handle_input(now, input);
                self.drain_server();
                if let Err(err) = result {
                    self.fail(format!("server refused a close of {}: {err}", end.conn));
                }
            }
            NodeId::Client(i) => {
                if self.clients[i].incarnation != end.incarnation {
                    return;
                }
                let now = self.clock(end.node);
                self.clients[i].open.remove(&end.conn);
                let Some(core) = self.clients[i].core.as_mut() else {
                    return;
                };
                let input = if dial_failed {
                    client::Input::ConnectFailed {
                        conn: end.conn,
                        error: client::ConnectError::Refused,
                    }
                } else {
                    client::Input::Closed { conn: end.conn }
                };
                let result = core.handle_input(now, input);
                self.drain_client(i);
                if let Err(err) = result {
                    self.fail(format!("client {i} refused a close of {}: {err}", end.conn));
                }
            }
            NodeId::Squatter(_) => {}
        }
    }

    /// A dial reaches its destination (or finds nothing there).
    pub(super) fn arrive(&mut self, c: usize) {
        if self.conns[c].state != ConnState::Dialling {
            return;
        }
        let h = self.conns[c].host;
        if self.hosts[h].link.partitioned {
            self.held[h].push(Ev::Arrive(c));
            return;
        }
        let lat = self.hosts[h].latency(self.now);
        let Some(dialler) = self.conns[c].ends[0].id else {
            return;
        };
        match self.conns[c].kind {
            ConnKind::Control => {
                let NodeId::Client(i) = dialler.node else {
                    return;
                };
                let inc = self.server.incarnation;
                let now = self.clock(NodeId::Server);
                let ip = match host_ip(h) {
                    std::net::IpAddr::V4(v4) if self.hosts[h].mapped_v6 => {
                        std::net::IpAddr::V6(v4.to_ipv6_mapped())
                    }
                    ip => ip,
                };
                let peer = SocketAddr::new(ip, self.hosts[h].ephemeral());
                let Some(core) = self.server.core.as_mut() else {
                    // Nobody listens on the server's port: RST.
                    return self.schedule(self.now + lat, Ev::DialFailed(dialler));
                };
                let conn = core.handle_accept(now, peer);
                self.accepted(
                    c,
                    EndId {
                        node: NodeId::Server,
                        incarnation: inc,
                        conn,
                    },
                );
                self.conns[c].server_incarnation = inc;
                self.server.open.insert(conn);
                self.drain_server();
                self.connected(dialler, i);
            }
            ConnKind::Callback => {
                let port = self.conns[c].target.port();
                match self.hosts[h].link.firewall {
                    Firewall::Reject => {
                        return self.schedule_across(h, lat, Ev::DialFailed(dialler));
                    }
                    Firewall::Drop => return, // hangs until the server gives up
                    Firewall::Open => {}
                }
                let peer = SocketAddr::new(SERVER_ADDR.ip(), 30_000 + (c % 20_000) as u16);
                match self.hosts[h].ports.get(&port).copied() {
                    Some(PortOwner::Client(j, inc))
                        if self.clients[j].incarnation == inc
                            && self.clients[j]
                                .core
                                .as_ref()
                                .is_some_and(|core| !core.is_finished()) =>
                    {
                        let now = self.clock(NodeId::Client(j));
                        let Some(core) = self.clients[j].core.as_mut() else {
                            return;
                        };
                        let conn = core.handle_accept(now, peer);
                        self.clients[j].open.insert(conn);
                        self.conns[c].client = Some(j);
                        self.accepted(
                            c,
                            EndId {
                                node: NodeId::Client(j),
                                incarnation: inc,
                                conn,
                            },
                        );
                        self.drain_client(j);
                        self.server_connected(dialler);
                    }
                    Some(PortOwner::Squatter(k)) if self.squatters[k].alive => {
                        self.squatters[k].next_conn += 1;
                        let end = EndId {
                            node: NodeId::Squatter(k),
                            incarnation: 0,
                            conn: ConnId::from_raw(self.squatters[k].next_conn),
                        };
                        self.accepted(c, end);
                        self.server_connected(dialler);
                        self.squatter_accept(k, c);
                    }
                    _ => self.schedule_across(h, lat, Ev::DialFailed(dialler)),
                }
            }
        }
    }

    fn accepted(&mut self, c: usize, end: EndId) {
        self.conns[c].ends[1] = End {
            id: Some(end),
            open: true,
        };
        self.conns[c].state = ConnState::Open;
        self.ends.insert(end, (c, 1));
    }

    fn connected(&mut self, dialler: EndId, i: usize) {
        let Some(&(c, _)) = self.ends.get(&dialler) else {
            return;
        };
        if !self.conns[c].ends[0].open || self.clients[i].incarnation != dialler.incarnation {
            return;
        }
        let now = self.clock(dialler.node);
        let Some(core) = self.clients[i].core.as_mut() else {
            return;
        };
        let result = core.handle_input(now, client::Input::Connected { conn: dialler.conn });
        self.drain_client(i);
        if let Err(err) = result {
            self.fail(format!("client {i} refused Connected: {err}"));
        }
    }

    fn server_connected(&mut self, dialler: EndId) {
        let Some(&(c, _)) = self.ends.get(&dialler) else {
            return;
        };
        if !self.conns[c].ends[0].open || self.server.incarnation != dialler.incarnation {
            return;
        }
        let now = self.clock(NodeId::Server);
        let Some(core) = self.server.core.as_mut() else {
            return;
        };
        let result = core.handle_input(now, server::Input::Connected { conn: dialler.conn });
        self.drain_server();
        if let Err(err) = result {
            self.fail(format!("server refused Connected: {err}"));
        }
    }

    /// Carries out a client's Listen.
    pub(super) fn bind(&mut self, i: usize, incarnation: u32, addr: SocketAddr) {
        if self.clients[i].incarnation != incarnation {
            return;
        }
        let h = self.clients[i].host;
        let input = match self.hosts[h].bind(addr.port(), PortOwner::Client(i, incarnation)) {
            Some(port) => {
                self.clients[i].last_port = Some(port);
                client::Input::Bound {
                    local: SocketAddr::new(addr.ip(), port),
                }
            }
            None => client::Input::BindFailed {
                addr,
                error: BindError::AddrInUse,
            },
        };
        let now = self.clock(NodeId::Client(i));
        let Some(core) = self.clients[i].core.as_mut() else {
            return;
        };
        let result = core.handle_input(now, input);
        self.drain_client(i);
        if let Err(err) = result {
            self.fail(format!("client {i} refused its bind result: {err}"));
        }
    }

    // ----- foreign processes -------------------------------------------------

    fn squatter_accept(&mut self, k: usize, c: usize) {
        match self.squatters[k].mode {
            Squatter::Silent => {}
            Squatter::Impostor => {
                let client_nonce = self.rng.seed32();
                if let Ok(data) = (Frame::CbChallenge { client_nonce }).to_vec() {
                    self.push_data(c, 1, data);
                }
            }
            Squatter::Garbage => {
                let n = self.rng.range(1, 40) as usize;
                let data: Vec<u8> = (0..n).map(|_| self.rng.below(256) as u8).collect();
                self.push_data(c, 1, data);
            }
        }
    }

    fn squatter_received(&mut self, k: usize, c: usize, side: usize, end: EndId, bytes: &[u8]) {
        if self.squatters[k].mode != Squatter::Impostor {
            return;
        }
        let mut hello = false;
        let decoder = self.squatter_decoders.entry(end).or_default();
        let mut input = bytes;
        while let Ok(Some(frame)) = decoder.decode(&mut input) {
            hello |= matches!(frame, Frame::CbHello(_));
        }
        if hello {
            let proof = self.rng.seed32();
            if let Ok(data) = Frame::CbReady(CbReady { last_seq: 0, proof }).to_vec() {
                self.push_data(c, side, data);
            }
        }
    }

    /// Every open end of a process incarnation goes away as if the process
    /// died. With `fin` the peer sees the connection close after what was
    /// already sent; without, the end just stops existing (the peer gets a
    /// RST when it next writes).
    pub(super) fn kill_ends(&mut self, node: NodeId, incarnation: u32, fin: bool) {
        for c in 0..self.conns.len() {
            for side in 0..2 {
                let end = self.conns[c].ends[side];
                let Some(id) = end.id else { continue };
                if !end.open || id.node != node || id.incarnation != incarnation {
                    continue;
                }
                self.conns[c].ends[side].open = false;
                match self.conns[c].state {
                    ConnState::Dialling => self.conns[c].state = ConnState::Failed,
                    ConnState::Open if fin => self.push_segment(c, side, Segment::Fin),
                    _ => {}
                }
            }
        }
    }

    /// A middlebox resets a connection: both ends see it close at once and
    /// nothing in flight arrives.
    pub(super) fn reset_conn(&mut self, c: usize) {
        if self.conns[c].state != ConnState::Open {
            return;
        }
        self.conns[c].state = ConnState::Reset;
        for side in 0..2 {
            self.conns[c].pipes[side].queue.clear();
            if let (true, Some(id)) = (self.conns[c].ends[side].open, self.conns[c].ends[side].id) {
                self.schedule(self.now, Ev::Closed(id));
            }
        }
    }

    /// Whether client `i`'s process is running and not finished.
    pub(super) fn client_running(&self, i: usize) -> bool {
        self.clients[i]
            .core
            .as_ref()
            .is_some_and(|c: &Client| !c.is_finished())
    }

    /// Checks a refusal in a notify report.
    pub(super) fn check_refusal(
        &mut self,
        session: SessionId,
        refused: Refused,
        depth_before: Option<usize>,
    ) {
        match refused {
            Refused::QueueFull { limit } if depth_before == Some(limit) => {
                self.ledger.refused_queue_full();
            }
            other => self.fail(format!(
                "notify refused session {session} ({other}) with {depth_before:?} queued"
            )),
        }
    }
}
