//! Drives a `Server` (a testkit `Endpoint`) with many scripted clients, without a network: logs
//! them in (real SCRAM), advertises, and completes their callbacks.

#![allow(dead_code)] // each benchmark uses a different subset

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, Credentials, DEFAULT_ITERATIONS, SessionKey, cb_ready_proof,
    client_proof, prepare_password, session_key,
};
use faxnotify_core::server::{Input, MemoryUserStore, Output, Server, ServerConfig};
use faxnotify_core::wire::{Advertise, Caps, CbReady, Frame, Login, PolicyKind, Role};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_testkit::Endpoint;
use faxnotify_testkit::frames::first_frame;

const PASSWORD: &str = "bench password";
const SALT: [u8; 16] = [0x5a; 16];

/// One logged-in client, as small as possible so that the driver's own
/// bookkeeping does not blur the server's memory figures.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    pub session: SessionId,
    pub control: ConnId,
    pub callback: Option<ConnId>,
}

pub struct Driver {
    /// The server; its own API through `Deref`.
    pub server: Endpoint<Server>,
    pub now: Instant,
    secrets: ClientSecrets,
}

/// The i-th client's address: every client on its own IPv6 address (the
/// worst case for the per-address tables).
pub fn peer(i: usize) -> SocketAddr {
    let ip = Ipv6Addr::new(
        0x2001,
        0xdb8,
        0,
        0,
        0,
        (i >> 32) as u16,
        (i >> 16) as u16,
        i as u16,
    );
    SocketAddr::new(IpAddr::V6(ip), 50_000)
}

pub fn user(i: usize) -> String {
    format!("user{i}")
}

impl Driver {
    /// A server whose store holds `users` users, all with the same
    /// password and salt (so the clients derive their keys once).
    pub fn new(users: usize, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let credentials =
            Credentials::from_password(PASSWORD, &SALT, DEFAULT_ITERATIONS, Role::User).unwrap();
        let mut store = MemoryUserStore::new();
        for i in 0..users {
            store.insert(&user(i), credentials.clone()).unwrap();
        }
        let mut config = ServerConfig::new([3; 32]);
        config.max_sessions_per_user = 1_000_000;
        config.max_sessions_per_ip = 1_000_000;
        config.max_dials_per_ip = 1_000_000;
        tweak(&mut config);
        let now = Instant::now();
        let server = Server::new(config, Box::new(store), [4; 32]).unwrap();
        let secrets = ClientSecrets::derive(
            &prepare_password(PASSWORD).unwrap(),
            &SALT,
            DEFAULT_ITERATIONS,
        );
        Self {
            server: Endpoint::new(server),
            now,
            secrets,
        }
    }

    /// Takes the outputs; returns the bytes sent to `conn` and the dial asked for.
    fn collect(&mut self, conn: ConnId) -> (Vec<u8>, Option<ConnId>) {
        let bytes = self.server.take_transmitted(conn);
        let dial = self.server.take_connects().pop().map(|(dial, _)| dial);
        self.server.discard_outputs();
        (bytes, dial)
    }

    fn send(&mut self, conn: ConnId, frame: &Frame<'_>) -> (Vec<u8>, Option<ConnId>) {
        self.server
            .receive_frames(self.now, conn, std::slice::from_ref(frame));
        self.collect(conn)
    }

    /// Logs client `i` in, advertises, and with `callback` completes the
    /// callback handshake (otherwise advertises port 0: backchannel).
    pub fn open(&mut self, i: usize, callback: bool) -> Client {
        let conn = self.server.accept(self.now, peer(i));
        let (hello, _) = self.collect(conn);
        let login = Frame::Login(Login {
            version: 1,
            user: user(i).into(),
            client_nonce: [7; 32],
            caps: Caps::BACKCHANNEL,
            resume_session: 0,
        });
        let (challenge, _) = self.send(conn, &login);
        let mut login_body = Vec::new();
        login.encode_body(&mut login_body).unwrap();
        let auth = AuthMessage::from_bodies(&hello[5..], &login_body, &challenge[5..]);
        let proof = client_proof(&self.secrets, &auth);
        let (ok, _) = self.send(conn, &Frame::LoginProof { proof });
        let session = match first_frame(&ok) {
            Frame::LoginOk(ok) => SessionId::new(ok.session_id).unwrap(),
            other => panic!("login failed: {other}"),
        };
        let key = session_key(&self.secrets.client_key, &auth);
        let advertise = Frame::Advertise(Advertise {
            port: if callback { 6003 } else { 0 },
            policy: PolicyKind::Dynamic,
            range_lo: 0,
            range_hi: 0,
        });
        let (_, dial) = self.send(conn, &advertise);
        let callback = dial.map(|dial| self.handshake(session, &key, dial));
        Client {
            session,
            control: conn,
            callback,
        }
    }

    /// One notification (`payload`, kind 3) to every client, its NOTIFY
    /// transmitted and acknowledged: the first traffic after login, for
    /// what a notification leaves behind. Transmit buffers are recycled as
    /// a runtime does; every other output is dropped.
    pub fn notify_each_and_ack(&mut self, clients: &[Client], payload: &Bytes) {
        for c in clients {
            self.server
                .notify_session(self.now, c.session, 3, payload.clone())
                .unwrap();
        }
        self.recycle_transmits();
        let ack = ack(1);
        for c in clients {
            let conn = c.callback.unwrap_or(c.control);
            self.server
                .handle_input(self.now, Input::Received { conn, data: &ack })
                .unwrap();
            self.recycle_transmits();
        }
    }

    /// Drains the outputs, handing transmit buffers back for reuse.
    pub fn recycle_transmits(&mut self) {
        self.server.drain_into(|server, output| {
            if let Output::Transmit { data, .. } = output {
                server.recycle(data);
            }
        });
    }

    fn handshake(&mut self, session: SessionId, key: &SessionKey, dial: ConnId) -> ConnId {
        self.server.input(self.now, Input::Connected { conn: dial });
        let client_nonce = [8; 32];
        let (hello, _) = self.send(dial, &Frame::CbChallenge { client_nonce });
        let server_nonce = match first_frame(&hello) {
            Frame::CbHello(h) => h.server_nonce,
            other => panic!("expected CB_HELLO, got {other}"),
        };
        let proof = cb_ready_proof(key, &client_nonce, &server_nonce, session.get(), 0);
        self.send(dial, &Frame::CbReady(CbReady { last_seq: 0, proof }));
        dial
    }
}

/// An ACK frame on the stack (no allocation).
pub fn ack(seq: u64) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[..4].copy_from_slice(&9u32.to_be_bytes());
    out[4] = 0x24;
    out[5..].copy_from_slice(&seq.to_be_bytes());
    out
}
