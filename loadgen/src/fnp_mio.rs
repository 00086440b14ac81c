//! faxnotify on mio: the `faxnotify-mio` server with the load application,
//! and the clients as client cores on mio loops ([`super::mio_fleet`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use faxnotify_core::server::{Event, Target};
use faxnotify_core::wire::{CallbackState, EncodedNotification};
use faxnotify_mio::{LoopOptions, Server};

use super::closed_loop::{InLoop, in_loop_handler};
use super::messages::{self, ChildMsg, Spec};
use super::mio_fleet::Fleet;
use super::producer::{self, Seen, ServerApi};
use super::sys;
use super::tally::{self, Tally};
use faxnotify_runtime::PostReport;

struct MioServer {
    server: Server,
}

impl ServerApi for MioServer {
    fn post_batch(&mut self, batch: &mut Vec<(Target, EncodedNotification)>) -> Result<(), String> {
        self.server
            .post_batch(batch.drain(..))
            .map_err(|e| e.to_string())
    }

    fn take_post_report(&mut self) -> PostReport {
        self.server.take_post_report()
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Seen> {
        match self.server.events().recv_timeout(timeout) {
            Ok(event) => Some(seen(event)),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Seen::Note("server loop ended".into())),
        }
    }
}

/// What the producer needs from a server core event.
pub fn seen(event: Event) -> Seen {
    match event {
        Event::Delivered {
            session,
            first_seq,
            last_seq,
        } => Seen::Delivered {
            session,
            first: first_seq,
            last: last_seq,
        },
        Event::CallbackStatus {
            session,
            state: CallbackState::Reachable | CallbackState::Backchannel,
            ..
        } => Seen::PathUp(session),
        Event::SessionOpened { .. } => Seen::Nothing,
        other => Seen::Note(format!("{other:?}")),
    }
}

/// The server process.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let mut options = LoopOptions::default();
    options.post_capacity = producer::post_capacity(spec);
    let in_loop = InLoop::default();
    let server = Server::builder(
        producer::config(spec)?,
        producer::LoadUsers::new(spec.clients)?,
    )
    .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
    .options(options)
    .handler(in_loop_handler(in_loop.clone()))
    .start()
    .map_err(|e| e.to_string())?;
    messages::send(&ChildMsg::Listening {
        addr: server.local_addr(),
    });
    producer::run(spec, &mut MioServer { server }, Some(&in_loop))
}

/// The clients process: the clients split over `client_threads` mio loops.
pub fn clients(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let server = spec.server.ok_or("no server address")?;
    let tally = Tally::new(spec.clients as u64 * spec.per_client);
    let threads = spec.client_threads.clamp(1, spec.clients.max(1));
    let local_ip = spec.local_ip.and_then(|ip| match sys::local_address(ip) {
        Ok(()) => Some(IpAddr::V4(ip)),
        Err(e) => {
            tally.note(format!(
                "{ip} is not a local address here ({e}): these clients dial from 127.0.0.1 \
                 and share its ephemeral ports with the other processes"
            ));
            None
        }
    });
    let mut handles = Vec::new();
    for t in 0..threads {
        // Client i goes to thread i % threads; the first `backchannel` of
        // this process's clients have no listener.
        let share: Vec<(usize, bool)> = (0..spec.clients)
            .filter(|i| i % threads == t)
            .map(|i| (spec.first_client + i, i < spec.backchannel))
            .collect();
        let fleet = Fleet::new(
            server,
            share,
            spec.per_client,
            spec.logins_in_flight.div_ceil(threads),
            &tally,
        )
        .map_err(|e| e.to_string())?
        .tls(spec.tls.as_ref().map(|tls| tls.client()))
        .listen_policy(spec.listen_policy())
        .local_ip(local_ip);
        let tally = tally.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-clients-{t}"))
                .spawn(move || {
                    if let Err(e) = fleet.run() {
                        tally.note(format!("client loop failed: {e}"));
                    }
                })
                .map_err(|e| e.to_string())?,
        );
    }
    tally::report_loop(spec, &tally, threads);
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
