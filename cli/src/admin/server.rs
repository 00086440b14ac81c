//! The server side of the admin socket.
//!
//! The socket is created safely and owner-only: if the path exists it must
//! be a stale socket (nobody answers on it), which is removed; anything
//! else — a live server's socket, a file, a symlink — makes the server
//! refuse to start. The socket is bound inside a fresh private directory
//! (mode 0700), set to mode 0600, then hard-linked to its path, which fails
//! rather than replace anything that appeared meanwhile. No other user can
//! ever connect, not even during creation.
//!
//! A live socket served by another user (someone took the path while no
//! server ran) is refused with its owner named.
//!
//! Each connection gets a reading thread (at most [`MAX_CONNECTIONS`]
//! connections at once) that answers one JSON reply per request line, and
//! a writing thread that puts out replies and delivery reports
//! (`delivery`) in order; a bad line gets an error reply, never a crash.
//! Lines are bounded ([`MAX_LINE`]); a connection idle for [`IDLE_TIMEOUT`]
//! stops being read, and closes once its delivery reports are all out. A
//! client that leaves its replies unread is not read further until it
//! reads them ([`MAX_UNREAD_REPLIES`]).

use std::fs;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use faxnotify_core::auth::prepare_username;
use faxnotify_core::server::{DeliveryPath, Refused, SessionInfo, Target};
use faxnotify_core::wire::{NotificationKind, PolicyKind};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde_json::{Value, json};

use super::cluster::{self, ClusterTracker};
use super::delivery::{Recipient, Tracker};
use super::path::parent;
use super::peer;
use super::protocol::{Envelope, Request, To, codes, error_reply, parse_line, parse_session};
use crate::runtime::cluster::ClusterControl;
use crate::runtime::{EndSessionError, ServerControl};
use crate::user_store::SharedUsers;

/// Admin connections served at once. One more closes the oldest that waits
/// for its client's next request (a connection that says nothing, or
/// trickles a line that never ends, holds no place another needs); only
/// when none does does it get a `busy` reply. (One that asked for delivery
/// reports holds its place until they are out, or until its client has
/// gone.)
pub const MAX_CONNECTIONS: usize = 64;
/// The longest request line (a notification payload is at most 64 KiB, so
/// even fully escaped JSON fits).
pub const MAX_LINE: usize = 1024 * 1024;
/// An admin connection idle this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server waits for admin connections to take their
/// last delivery reports (a `notify --wait` reads them and closes).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How many replies a connection's requests may run ahead of what the
/// client has read: the next request is read only when fewer wait to be
/// written, so a client that writes requests and never reads the replies
/// cannot make the server queue one reply per request.
const MAX_UNREAD_REPLIES: u64 = 32;
/// How often a connection whose client has stopped sending, and waits for
/// delivery reports, looks whether the client has gone.
const HANGUP_CHECK: Duration = Duration::from_millis(200);

/// How many lines a connection's writer has put out: what lets its reader
/// wait for the client to read (see [`MAX_UNREAD_REPLIES`]).
#[derive(Debug, Default)]
struct Written {
    lines: Mutex<u64>,
    changed: Condvar,
}

impl Written {
    /// Counts one more line written.
    fn one_more(&self) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        *lines += 1;
        self.changed.notify_all();
    }

    /// The writer has stopped: no reader waits for it any longer.
    fn stopped(&self) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        *lines = u64::MAX;
        self.changed.notify_all();
    }

    /// Waits, at most `wait`, until fewer than [`MAX_UNREAD_REPLIES`] of
    /// the `replies` sent so far are unwritten; false if they still are.
    /// (Delivery reports count as written lines too: those are written
    /// only as the client reads, so they never let a reader run ahead of
    /// a client that does not.)
    fn wait_for_room(&self, replies: u64, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        while replies.saturating_sub(*lines) >= MAX_UNREAD_REPLIES {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            lines = self
                .changed
                .wait_timeout(lines, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The admin connections being served, and a way to wait until none is.
#[derive(Debug, Default)]
struct Active {
    count: Mutex<usize>,
    changed: Condvar,
    /// The connections a newer one may close, oldest first.
    places: Mutex<Vec<Place>>,
}

/// A served connection as the accept loop sees it.
#[derive(Debug)]
struct Place {
    id: u64,
    stream: UnixStream,
    /// Whether it waits for its client's next request and asked for no
    /// delivery report: closing it then loses nothing.
    idle: Arc<AtomicBool>,
}

impl Active {
    /// Takes a place unless `max` are taken.
    fn enter(&self, max: usize) -> bool {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    /// Takes a place whatever the count: one was just made by
    /// [`close_oldest_idle`](Self::close_oldest_idle), whose connection
    /// leaves as soon as its threads see the close.
    fn enter_anyway(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    /// Lets a connection be closed to make room (see [`Place`]).
    fn register(&self, place: Place) {
        self.places
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(place);
    }

    /// Closes the oldest idle connection; false if none is idle.
    fn close_oldest_idle(&self) -> bool {
        let mut places = self.places.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = places.iter().position(|p| p.idle.load(Ordering::SeqCst)) else {
            return false;
        };
        let place = places.remove(at);
        let _ = place.stream.shutdown(std::net::Shutdown::Both);
        true
    }

    fn leave(&self, id: u64) {
        self.places
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|p| p.id != id);
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.saturating_sub(1);
        self.changed.notify_all();
    }

    /// Waits until no connection is served, at most until `deadline`.
    fn wait_idle(&self, deadline: Instant) -> usize {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            count = self
                .changed
                .wait_timeout(count, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *count
    }
}

/// An admin socket: bound by [`AdminSocket::bind`] before the server
/// starts, answering after [`AdminSocket::serve`]; [`AdminSocket::close`]
/// (or dropping it) removes it.
#[derive(Debug)]
pub struct AdminSocket {
    path: PathBuf,
    /// The socket's (device, inode), to remove only our own socket.
    identity: (u64, u64),
    stop: Arc<AtomicBool>,
    /// Until `serve` takes it.
    listener: Option<UnixListener>,
    thread: Option<JoinHandle<()>>,
    tracker: Tracker,
    active: Arc<Active>,
    closed: bool,
    /// Cluster mode: notify publishes to the cluster's log.
    cluster: Option<ClusterControl>,
    cluster_tracker: ClusterTracker,
}

/// What request handlers need.
#[derive(Clone)]
struct Context {
    server: ServerControl,
    users: SharedUsers,
    tracker: Tracker,
    cluster: Option<ClusterControl>,
    cluster_tracker: ClusterTracker,
}

/// Makes room for the socket at `path`: nothing there, or a stale socket
/// (removed). Refuses a live socket and anything that is not a socket.
fn clear_path(path: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot check {}: {e}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{} exists and is not a socket: refusing to replace it; choose another --admin-socket path",
            path.display()
        ));
    }
    match UnixStream::connect(path) {
        Ok(stream) => match peer::peer_uid(&stream) {
            Ok(uid) if !peer::trusted(uid, peer::my_uid()) => Err(format!(
                "{} is served by {}, not by you ({}): another user may have taken the path \
                 to receive what is meant for this server; refusing to start. Remove it (as \
                 root or that user) or use the default path, in a directory only you can enter",
                path.display(),
                peer::describe_uid(uid),
                peer::describe_uid(peer::my_uid())
            )),
            _ => Err(format!(
                "{} is in use by a running server: stop it first, or choose another --admin-socket path",
                path.display()
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing a stale admin socket");
            fs::remove_file(path)
                .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display()))
        }
        Err(e) => Err(format!(
            "{} is a socket that cannot be checked ({e}): refusing to replace it",
            path.display()
        )),
    }
}

/// Binds an owner-only socket at `path` without any moment where another
/// user could connect or where something at `path` would be replaced.
fn bind_private(path: &Path) -> Result<UnixListener, String> {
    let parent = parent(path);
    // Short, so that a path near the limit of a Unix socket path still
    // fits (path::CREATION_EXTRA counts "/.fx-<12 hex>/s").
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| format!("cannot get random bytes: {e}"))?;
    let private = parent.join(format!(".fx-{}", hex::encode(nonce)));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| {
            format!(
                "cannot create the admin socket in {}: {}",
                parent.display(),
                faxnotify_textfile::IoReason(&e)
            )
        })?;
    let inner = private.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&inner)?;
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o600))?;
        fs::hard_link(&inner, path)?;
        Ok::<_, io::Error>(listener)
    })();
    let _ = fs::remove_file(&inner);
    let _ = fs::remove_dir(&private);
    result.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => format!(
            "{} appeared while the admin socket was being created: refusing to replace it",
            path.display()
        ),
        _ => format!("cannot create the admin socket {}: {e}", path.display()),
    })
}

impl AdminSocket {
    /// Creates the socket at `path` (not answering yet: connections wait).
    pub fn bind(path: &Path) -> Result<Self, String> {
        clear_path(path)?;
        let listener = bind_private(path)?;
        let meta = fs::symlink_metadata(path)
            .map_err(|e| format!("cannot check {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            stop: Arc::new(AtomicBool::new(false)),
            listener: Some(listener),
            thread: None,
            tracker: Tracker::default(),
            active: Arc::default(),
            closed: false,
            cluster: None,
            cluster_tracker: ClusterTracker::default(),
        })
    }

    /// Starts answering requests for `server`.
    pub fn serve(&mut self, server: ServerControl, users: SharedUsers) -> Result<(), String> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        let ctx = Context {
            server,
            users,
            tracker: self.tracker.clone(),
            cluster: self.cluster.clone(),
            cluster_tracker: self.cluster_tracker.clone(),
        };
        let flag = Arc::clone(&self.stop);
        let active = Arc::clone(&self.active);
        let thread = std::thread::Builder::new()
            .name("faxnotify-admin".into())
            .spawn(move || accept_loop(listener, ctx, &flag, &active))
            .map_err(|e| format!("cannot start the admin socket thread: {e}"))?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Where the server's events go for delivery reports; feed it every
    /// event (it never blocks).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Cluster mode: notify publishes to the cluster's log through
    /// `cluster` (call before [`AdminSocket::serve`]).
    pub fn set_cluster(&mut self, cluster: ClusterControl) {
        self.cluster = Some(cluster);
    }

    /// Where cluster mode's delivery reports go.
    pub fn cluster_tracker(&self) -> &ClusterTracker {
        &self.cluster_tracker
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting and removes the socket (if it is still ours), once
    /// the server has stopped: every recipient still waiting for a delivery
    /// report is reported undelivered (the server stopped), and the
    /// connections get up to [`DRAIN_TIMEOUT`] to take their last lines —
    /// an accepted notification's outcome is never lost in the exit.
    pub fn close(mut self) {
        self.shut();
        self.tracker.server_stopped();
        let left = self.active.wait_idle(Instant::now() + DRAIN_TIMEOUT);
        if left > 0 {
            tracing::warn!(
                "{left} admin connection(s) still open after {} s; exiting without them",
                DRAIN_TIMEOUT.as_secs()
            );
        }
    }

    fn shut(&mut self) {
        self.closed = true;
        self.listener = None;
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept. If that is impossible (someone removed
        // the path), leave the thread blocked: the process is ending.
        let woken = UnixStream::connect(&self.path).is_ok();
        if let Some(thread) = self.thread.take()
            && woken
        {
            let _ = thread.join();
        }
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        if !self.closed {
            self.shut();
        }
    }
}

fn accept_loop(listener: UnixListener, ctx: Context, stop: &AtomicBool, active: &Arc<Active>) {
    let ids = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("admin socket accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if !active.enter(MAX_CONNECTIONS) {
            if !active.close_oldest_idle() {
                let reply = error_reply(
                    codes::BUSY,
                    format!("more than {MAX_CONNECTIONS} admin connections at once; try again"),
                );
                let _ = writeln!(stream, "{reply}");
                continue;
            }
            tracing::debug!("admin socket full: closed the oldest idle connection");
            active.enter_anyway();
        }
        let ctx = ctx.clone();
        let served = Arc::clone(active);
        let id = ids.fetch_add(1, Ordering::SeqCst);
        let idle = Arc::new(AtomicBool::new(false));
        if let Ok(stream) = stream.try_clone() {
            active.register(Place {
                id,
                stream,
                idle: Arc::clone(&idle),
            });
        }
        let spawned = std::thread::Builder::new()
            .name("faxnotify-admin-conn".into())
            .spawn(move || {
                serve(stream, &ctx, id, &idle);
                served.leave(id);
            });
        if let Err(e) = spawned {
            active.leave(id);
            tracing::warn!("cannot serve an admin connection: {e}");
        }
    }
}

/// Answers one connection's request lines until it closes, then waits
/// until its replies and delivery reports are out. `idle` tells the accept
/// loop when the connection may be closed to make room (see [`Place`]).
fn serve(stream: UnixStream, ctx: &Context, connection: u64, idle: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    // Replies and reports in the order they were made; the writer ends
    // when the reader and every pending delivery report let go of `lines`.
    let (lines, out) = mpsc::channel::<Value>();
    let tracker = ctx.tracker.clone();
    let written = Arc::new(Written::default());
    let progress = Arc::clone(&written);
    let writing = std::thread::Builder::new()
        .name("faxnotify-admin-out".into())
        .spawn(move || {
            for line in out {
                if writeln!(writer, "{line}").is_err() {
                    break;
                }
                progress.one_more();
            }
            progress.stopped();
            tracker.cancel(connection);
        });
    let Ok(writing) = writing else {
        return;
    };
    let hangup = stream.try_clone();
    read_requests(stream, ctx, connection, &lines, &written, idle);
    drop(lines);
    // Delivery reports the client asked for may be minutes away (a
    // detached session's grace). A client that has gone (a `notify
    // --wait` interrupted or timed out) must not hold its place till then:
    // with every place held so, `notify` would be refused as busy.
    if let Ok(hangup) = hangup {
        while !writing.is_finished() {
            if hung_up(&hangup, HANGUP_CHECK) {
                ctx.tracker.cancel(connection);
                ctx.cluster_tracker.cancel(connection);
                break;
            }
        }
    }
    let _ = writing.join();
}

/// Waits at most `wait` for the client of `stream` to close its end of the
/// connection; true if it has. A client that only shut down its writing
/// half (`notify` piped from a file, say) is still reading: not hung up.
fn hung_up(stream: &UnixStream, wait: Duration) -> bool {
    // No events asked for: POLLHUP and POLLERR come regardless, and
    // POLLIN, which the end of what it wrote would raise, is left out.
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::empty())];
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(0) => false,
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(Errno::EINTR) => false,
        // A socket that cannot be polled cannot be written to either.
        Err(_) => true,
    }
}

fn read_requests(
    stream: UnixStream,
    ctx: &Context,
    connection: u64,
    lines: &Sender<Value>,
    written: &Written,
    idle: &AtomicBool,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    // Every request line read gets exactly one reply.
    let mut replies: u64 = 0;
    // Whether a request asked for delivery reports: the connection then
    // holds its place until they are out.
    let mut holds = false;
    loop {
        if !written.wait_for_room(replies, IDLE_TIMEOUT) {
            return; // the client has not read its replies for that long
        }
        replies += 1;
        line.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
        idle.store(!holds, Ordering::SeqCst);
        let read = reader.by_ref().take(limit).read_until(b'\n', &mut line);
        idle.store(false, Ordering::SeqCst);
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => return, // idle timeout or a broken connection
        }
        if line.len() > MAX_LINE {
            let reply = error_reply(
                codes::BAD_REQUEST,
                format!("request line longer than {MAX_LINE} bytes; closing"),
            );
            let _ = lines.send(reply);
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            let reply = error_reply(
                codes::BAD_REQUEST,
                "empty request line: send one JSON object per line (see `faxnotify notify --help`)",
            );
            if lines.send(reply).is_err() {
                return;
            }
            continue;
        }
        if !answer(text.trim(), ctx, connection, lines, &mut holds) {
            return;
        }
    }
}

/// Answers one line; false when the connection's writer is gone. Sets
/// `holds` when it registered delivery reports.
fn answer(
    line: &str,
    ctx: &Context,
    connection: u64,
    lines: &Sender<Value>,
    holds: &mut bool,
) -> bool {
    let Envelope {
        id,
        delivery_reports,
        request,
    } = match parse_line(line) {
        Ok(envelope) => envelope,
        Err((id, e)) => {
            let reply = error_reply(
                codes::BAD_REQUEST,
                format!(
                    "not a valid request: {e} (one JSON object per line, see `faxnotify notify --help`)"
                ),
            );
            return lines.send(with_id(reply, id.as_ref())).is_ok();
        }
    };
    if let (Some(cluster), Request::Notify { to, notification }) = (&ctx.cluster, &request) {
        let (reply, published) = match notification.to_notification() {
            Ok(n) => cluster::notify(cluster, &ctx.users, to, &n, delivery_reports),
            Err(e) => (error_reply(codes::BAD_REQUEST, e), None),
        };
        if lines.send(with_id(reply, id.as_ref())).is_err() {
            return false;
        }
        if delivery_reports && let (Some(id), Some(published)) = (id, published) {
            ctx.cluster_tracker
                .register(connection, id, lines.clone(), &published);
            *holds = true;
        }
        return true;
    }
    let (reply, recipients) = match request {
        Request::Notify { to, notification } => notify(ctx, &to, &notification),
        other => (answer_other(other, ctx), None),
    };
    if lines.send(with_id(reply, id.as_ref())).is_err() {
        return false;
    }
    // After the reply, so that reports follow it.
    if delivery_reports && let (Some(id), Some(recipients)) = (id, recipients) {
        ctx.tracker
            .register(connection, id, lines.clone(), recipients);
        *holds = true;
    }
    true
}

/// `reply` labelled with the request's `id`, if it had one.
fn with_id(mut reply: Value, id: Option<&Value>) -> Value {
    if let (Some(id), Some(object)) = (id, reply.as_object_mut()) {
        object.insert("id".into(), id.clone());
    }
    reply
}

fn answer_other(request: Request, ctx: &Context) -> Value {
    match request {
        Request::Notify { .. } => error_reply(codes::BAD_REQUEST, "notify is answered elsewhere"),
        Request::Sessions {} => match ctx.server.sessions() {
            Ok(sessions) => json!({
                "ok": true,
                "sessions": sessions.iter().map(session_json).collect::<Vec<_>>(),
                // The list is this server's own: the others hold theirs.
                "cluster": ctx.cluster.is_some(),
            }),
            Err(e) => error_reply(codes::SERVER_STOPPED, e),
        },
        Request::EndSession { session } => {
            let Some(id) = parse_session(&session) else {
                return error_reply(
                    codes::NO_SUCH_SESSION,
                    format!(
                        "{session:?} is not a session id (16 hex digits, as `faxnotify sessions` shows)"
                    ),
                );
            };
            match ctx.server.end_session(id) {
                Ok(()) => {
                    tracing::info!(session = %id, "session ended through the admin socket");
                    json!({"ok": true, "session": id.to_string()})
                }
                Err(EndSessionError::Unknown) if ctx.cluster.is_some() => error_reply(
                    codes::NO_SUCH_SESSION,
                    format!(
                        "no live session {id} on this server (cluster mode: end it through the \
                         admin socket of the server that holds it; `faxnotify sessions` there lists it)"
                    ),
                ),
                Err(EndSessionError::Unknown) => {
                    error_reply(codes::NO_SUCH_SESSION, format!("no live session {id}"))
                }
                Err(EndSessionError::Stopped) => {
                    error_reply(codes::SERVER_STOPPED, "the server is shutting down")
                }
            }
        }
    }
}

/// Queues a notification: the reply, and the accepted recipients (none
/// for an error reply).
fn notify(
    ctx: &Context,
    to: &To,
    spec: &super::protocol::NotificationSpec,
) -> (Value, Option<Vec<Recipient>>) {
    let refuse = |reply: Value| (reply, None);
    let notification = match spec.to_notification() {
        Ok(n) => n,
        Err(e) => return refuse(error_reply(codes::BAD_REQUEST, e)),
    };
    if let Err(e) = notification.to_payload() {
        return refuse(error_reply(
            codes::CANNOT_ENCODE,
            format!("the notification does not fit in a NOTIFY frame: {e}"),
        ));
    }
    let target = match to {
        To::All => Target::All,
        To::User(name) => {
            let prepared = match prepare_username(name) {
                Ok(p) => p,
                Err(e) => return refuse(error_reply(codes::NO_SUCH_USER, e.to_string())),
            };
            if !ctx.users.contains(&prepared) {
                return refuse(error_reply(
                    codes::NO_SUCH_USER,
                    format!("no user {prepared:?} in the users file"),
                ));
            }
            Target::User(prepared)
        }
        To::Session(text) => match parse_session(text) {
            Some(id) => Target::Session(id),
            None => {
                return refuse(error_reply(
                    codes::NO_SUCH_SESSION,
                    format!(
                        "{text:?} is not a session id (16 hex digits, as `faxnotify sessions` shows)"
                    ),
                ));
            }
        },
    };
    let users: std::collections::HashMap<String, String> = ctx
        .server
        .sessions()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.id.to_string(), s.user.to_string()))
        .collect();
    let report = match ctx.server.notify(target, &notification) {
        Ok(report) => report,
        Err(e) => return refuse(error_reply(codes::SERVER_STOPPED, e)),
    };
    let accepted: Vec<Value> = report
        .accepted
        .iter()
        .map(|a| {
            let id = a.session.to_string();
            json!({"session": id, "user": users.get(&id), "seq": a.seq})
        })
        .collect();
    let refused: Vec<Value> = report
        .refused
        .iter()
        .map(|(session, why)| {
            let reason = match why {
                Refused::QueueFull { .. } => "queue_full",
                Refused::NoSuchSession => "no_such_session",
                Refused::PayloadTooLarge { .. } => "payload_too_large",
                _ => "refused",
            };
            let id = session.to_string();
            json!({"session": id, "user": users.get(&id), "reason": reason, "message": why.to_string()})
        })
        .collect();
    // What a notification says (fax numbers, names, texts) is logged only
    // at debug: an info log is kept and shipped widely.
    let kind = NotificationKind::from_wire(notification.kind()).map_or("unknown", |k| k.name());
    tracing::info!(
        "admin notify ({kind}) to {}: {} accepted, {} refused",
        describe_to(to),
        accepted.len(),
        refused.len()
    );
    tracing::debug!("admin notify ({kind}): {notification}");
    let recipients = report
        .accepted
        .iter()
        .map(|a| Recipient {
            session: a.session,
            user: users.get(&a.session.to_string()).cloned(),
            seq: a.seq,
        })
        .collect();
    (
        json!({"ok": true, "kind": notification.kind(), "accepted": accepted, "refused": refused}),
        Some(recipients),
    )
}

fn describe_to(to: &To) -> String {
    match to {
        To::All => "everyone".to_owned(),
        To::User(u) => format!("user {u:?}"),
        To::Session(s) => format!("session {s}"),
    }
}

/// One session as `sessions` lists it.
pub fn session_json(s: &SessionInfo) -> Value {
    let policy = s.advertised.map(|a| match a.policy {
        PolicyKind::Range => format!("range:{}-{}", a.range_lo, a.range_hi),
        PolicyKind::Fixed => format!("fixed:{}", a.port),
        _ => "dynamic".to_owned(),
    });
    let path = match s.path {
        DeliveryPath::Callback(_) => "callback",
        DeliveryPath::Backchannel(_) => "backchannel",
        _ => "none",
    };
    json!({
        "session": s.id.to_string(),
        "user": &*s.user,
        "role": s.role.name(),
        "peer": s.peer.to_string(),
        "attached": s.attached,
        "policy": policy,
        "port": s.advertised.map(|a| a.port),
        "callback": s.callback.map(|c| c.to_string()),
        "path": path,
        "callback_state": s.callback_state.map(|c| c.name()),
        "queue_depth": s.queue_depth,
        "unacked": s.unacked,
        "last_seq": s.last_seq,
        "acked_seq": s.acked_seq,
    })
}
