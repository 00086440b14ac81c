//! A session's state, and the listing the application sees.

mod of_user;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use self::table::SessionTable;
use super::delivery::Delivery;
use crate::auth::SessionKey;
use crate::wire::{Advertise, CallbackState, Caps, Role};
use crate::{ConnId, SessionId};

/// Where a session's notifications go right now (spec section 7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DeliveryPath {
    /// Nowhere: detached, not advertised yet, or the callback is being
    /// (re)dialled or is unreachable without a backchannel. Notifications queue.
    None,
    /// The callback connection whose handshake completed last.
    Callback(ConnId),
    /// The control connection (BACKCHANNEL negotiated).
    Backchannel(ConnId),
}

/// The dialling state of a session's callback [B-5].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dial {
    /// Not dialling (nothing to dial, or the callback is up).
    Idle,
    /// The next attempt is due at this time.
    Backoff(Instant),
    /// Waiting for one of the destination IP's dial slots.
    Waiting,
    /// This callback connection is connecting or in its handshake.
    InProgress(ConnId),
}

/// What a successful login gives a session, new or resumed [C-6].
#[derive(Debug)]
pub(crate) struct Grant {
    /// The control connection that logged in.
    pub(crate) control: ConnId,
    /// Its peer (IPv4-mapped shown as IPv4).
    pub(crate) peer: SocketAddr,
    /// Of this login; authenticates callbacks [B-1].
    pub(crate) key: SessionKey,
    /// LOGIN_OK.caps.
    pub(crate) caps: Caps,
    pub(crate) role: Role,
    /// The first lease of this connection [C-5].
    pub(crate) lease_deadline: Instant,
}

/// One session. Its id, user and held endpoint are what the
/// [`SessionTable`]'s indexes are keyed on, so they are private to this
/// module: read them with the getters, change them through the table.
#[derive(Debug)]
pub(crate) struct Session {
    id: SessionId,
    user: Arc<str>,
    pub(crate) role: Role,
    /// Negotiated on the latest login (LOGIN_OK.caps).
    pub(crate) caps: Caps,
    /// Of the latest login; authenticates callbacks [B-1].
    pub(crate) key: SessionKey,
    /// The control connection, `None` while detached.
    pub(crate) control: Option<ConnId>,
    /// The latest control connection's peer (IPv4-mapped shown as IPv4).
    pub(crate) peer: SocketAddr,
    /// ADVERTISE on the current control connection.
    pub(crate) advertised: Option<Advertise>,
    /// `lease` after the last frame received on a control connection [C-5];
    /// once detached, at least the detached grace period after the close [D-15].
    pub(crate) lease_deadline: Instant,
    /// `lease_deadline` was moved once already because its timer was
    /// called late (see `deadlines.rs`): the next call ends the session.
    pub(crate) lease_rechecked: bool,
    pub(crate) path: DeliveryPath,
    /// The last CALLBACK_STATUS sent on the current control connection.
    pub(crate) reported: Option<CallbackState>,
    /// The endpoint this session holds after a successful handshake [C-4].
    held_endpoint: Option<SocketAddr>,
    pub(crate) dial: Dial,
    /// Failed dials or handshakes in a row (the backoff exponent).
    pub(crate) dial_failures: u32,
    pub(crate) delivery: Delivery,
    /// The time of this session's live heap entry (see `timers`).
    pub(crate) timer: Option<Instant>,
}

impl Session {
    /// A session opened by a login on `grant.control`, not advertised yet.
    pub(crate) fn new(id: SessionId, user: Arc<str>, grant: Grant) -> Self {
        Self {
            id,
            user,
            role: grant.role,
            caps: grant.caps,
            key: grant.key,
            control: Some(grant.control),
            peer: grant.peer,
            advertised: None,
            lease_deadline: grant.lease_deadline,
            lease_rechecked: false,
            path: DeliveryPath::None,
            reported: None,
            held_endpoint: None,
            dial: Dial::Idle,
            dial_failures: 0,
            delivery: Delivery::default(),
            timer: None,
        }
    }

    /// [C-6]: the session moves to the connection of a new login, whose
    /// key, capabilities and role replace the old ones; it advertises anew.
    pub(crate) fn resume(&mut self, grant: Grant) {
        self.control = Some(grant.control);
        self.peer = grant.peer;
        self.key = grant.key;
        self.caps = grant.caps;
        self.role = grant.role;
        self.advertised = None;
        self.reported = None;
        self.lease_deadline = grant.lease_deadline;
        self.lease_rechecked = false;
    }

    pub(crate) fn id(&self) -> SessionId {
        self.id
    }

    /// The prepared user name, shared by the user's sessions.
    pub(crate) fn user(&self) -> &Arc<str> {
        &self.user
    }

    /// The endpoint this session holds [C-4].
    pub(crate) fn held_endpoint(&self) -> Option<SocketAddr> {
        self.held_endpoint
    }

    /// The callback endpoint to dial: the control peer's IP and the
    /// advertised port [C-1]; `None` without a listener (port 0).
    pub(crate) fn callback_endpoint(&self) -> Option<SocketAddr> {
        let advertised = self.advertised?;
        (advertised.port != 0).then(|| SocketAddr::new(self.peer.ip(), advertised.port))
    }

    pub(crate) fn backchannel_negotiated(&self) -> bool {
        self.caps.contains(Caps::BACKCHANNEL)
    }

    /// The earliest time something is due for this session.
    pub(crate) fn next_deadline(&self) -> Instant {
        match self.dial {
            Dial::Backoff(at) => at.min(self.lease_deadline),
            _ => self.lease_deadline,
        }
    }

    pub(crate) fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id,
            user: Arc::clone(&self.user),
            role: self.role,
            peer: self.peer,
            attached: self.control.is_some(),
            caps: self.caps,
            advertised: self.advertised,
            callback: self.callback_endpoint(),
            path: self.path,
            callback_state: self.reported,
            queue_depth: self.delivery.depth(),
            unacked: self.delivery.in_flight(),
            last_seq: self.delivery.last_seq(),
            acked_seq: self.delivery.acked(),
        }
    }
}

/// A snapshot of one session, from [`Server::sessions`](super::Server::sessions).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's id.
    pub id: SessionId,
    /// Its user (prepared name).
    pub user: Arc<str>,
    /// The user's role.
    pub role: Role,
    /// The (latest) control connection's peer.
    pub peer: SocketAddr,
    /// Whether a control connection is attached (otherwise the session is
    /// detached and waits for a resume until its lease and the detached
    /// grace period have run out).
    pub attached: bool,
    /// Capabilities negotiated at the latest login.
    pub caps: Caps,
    /// The listen policy and port the client advertised on its current
    /// control connection.
    pub advertised: Option<Advertise>,
    /// The callback endpoint the server dials (`None` for port 0 or before ADVERTISE).
    pub callback: Option<SocketAddr>,
    /// Where notifications go right now.
    pub path: DeliveryPath,
    /// The last CALLBACK_STATUS sent to the client on its current control connection.
    pub callback_state: Option<CallbackState>,
    /// Notifications held: every one not yet acknowledged [B-6].
    pub queue_depth: usize,
    /// Notifications sent on the current path and not yet acknowledged.
    pub unacked: u64,
    /// The seq of the newest notification (0 before the first).
    pub last_seq: u64,
    /// The highest seq the client acknowledged.
    pub acked_seq: u64,
}
