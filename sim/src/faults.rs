//! The schedule's actions (application work and faults), and the settling
//! phase that ends every run.

use std::time::Duration;

use faxnotify_core::SessionId;
use faxnotify_core::server::Target;

use super::net::{ConnKind, ConnState, NodeId, PortOwner, SquatterProc};
use super::scenario::{Action, Firewall, Recipient, Squatter};
use super::world::{Ev, Sim};

impl Sim {
    /// Carries out one action of the schedule.
    pub(super) fn apply(&mut self, action: &Action) {
        self.log("schedule", format_args!("{action:?}"));
        let clients = self.clients.len();
        let hosts = self.hosts.len();
        if !matches!(action, Action::Notify { .. }) {
            self.fault_count += 1;
        }
        match *action {
            Action::Notify { to, count } => self.app_notify(to, count),
            Action::EndSession(c) => {
                if let Some(sid) = self.newest_session(c % clients) {
                    let now = self.clock(NodeId::Server);
                    if let Some(core) = self.server.core.as_mut() {
                        let result = core.end_session(now, sid);
                        self.drain_server();
                        if let Err(err) = result {
                            self.fail(format!("end_session of a live session failed: {err}"));
                        }
                    }
                }
            }
            Action::ResetControl(c) => {
                let target = (0..self.conns.len()).rev().find(|&k| {
                    let conn = &self.conns[k];
                    conn.kind == ConnKind::Control
                        && conn.client == Some(c % clients)
                        && conn.state == ConnState::Open
                });
                if let Some(k) = target {
                    self.reset_conn(k);
                }
            }
            Action::ResetCallback(c) => {
                for k in 0..self.conns.len() {
                    let conn = &self.conns[k];
                    if conn.kind == ConnKind::Callback && conn.client == Some(c % clients) {
                        self.reset_conn(k);
                    }
                }
            }
            Action::Delay {
                host,
                extra_ms,
                for_ms,
            } => {
                let link = &mut self.hosts[host % hosts].link;
                link.extra = Duration::from_millis(u64::from(extra_ms));
                link.extra_until = self.now + Duration::from_millis(u64::from(for_ms));
            }
            Action::Partition(h) => self.hosts[h % hosts].link.partitioned = true,
            Action::Heal(h) => self.heal(h % hosts),
            Action::Firewall(h, mode) => self.hosts[h % hosts].link.firewall = mode,
            Action::CrashClient { client, silent } => self.crash_client(client % clients, silent),
            Action::StealPort { client, mode } => {
                let i = client % clients;
                self.crash_client(i, true);
                if let Some(port) = self.clients[i].last_port {
                    let host = self.clients[i].host;
                    self.squat(host, port, mode);
                }
            }
            Action::StartClient(c) => self.start_client(c % clients),
            Action::Logout(c) => {
                let i = c % clients;
                let now = self.clock(NodeId::Client(i));
                if let Some(core) = self.clients[i].core.as_mut() {
                    let _ = core.logout(now); // refused when already finished or logging out
                    self.drain_client(i);
                }
            }
            Action::RestartServer { graceful, down_ms } => {
                self.stop_server(graceful);
                let at = self.now + Duration::from_millis(u64::from(down_ms));
                self.schedule(at, Ev::StartServer);
            }
            Action::Squat { host, port, mode } => self.squat(host % hosts, port, mode),
            Action::Unsquat(h) => self.unsquat(h % hosts),
            Action::ClockJump { machine, ms } => {
                let machine = match machine {
                    super::scenario::Machine::Host(h) => super::scenario::Machine::Host(h % hosts),
                    m => m,
                };
                self.skew[Self::machine_index(machine)] += Duration::from_millis(u64::from(ms));
            }
        }
    }

    /// The newest live session of client `c`'s user.
    fn newest_session(&self, c: usize) -> Option<SessionId> {
        self.server.sessions_of.get(&c)?.last().copied()
    }

    /// The server's application sends `count` distinct notifications.
    pub(super) fn app_notify(&mut self, to: Recipient, count: u8) {
        let clients = self.clients.len();
        let target = match to {
            Recipient::User(c) => match Target::user(&self.clients[c % clients].user) {
                Ok(t) => t,
                Err(err) => return self.fail(format!("user name refused: {err}")),
            },
            Recipient::NewestSession(c) => match self.newest_session(c % clients) {
                Some(sid) => Target::Session(sid),
                None => return,
            },
            Recipient::All => Target::All,
        };
        for _ in 0..count {
            let now = self.clock(NodeId::Server);
            let Some(core) = self.server.core.as_mut() else {
                return;
            };
            let depths: Vec<(SessionId, usize)> =
                core.sessions().map(|s| (s.id, s.queue_depth)).collect();
            let (id, notification) = self.payload();
            let Some(core) = self.server.core.as_mut() else {
                return;
            };
            let report = match core.notify(now, target.clone(), &notification) {
                Ok(report) => report,
                Err(err) => return self.fail(format!("notify failed: {err}")),
            };
            for a in &report.accepted {
                let key = self.key(a.session);
                let result = self.ledger.accepted(key, a.seq, id);
                self.check(result);
            }
            for &(sid, refused) in &report.refused {
                let depth = depths.iter().find(|(s, _)| *s == sid).map(|(_, d)| *d);
                self.check_refusal(sid, refused, depth);
            }
            self.log(
                "app",
                format_args!(
                    "notify n{id} to {to:?}: {} accepted, {} refused",
                    report.accepted.len(),
                    report.refused.len()
                ),
            );
            self.drain_server();
        }
    }

    fn heal(&mut self, h: usize) {
        self.hosts[h].link.partitioned = false;
        let lat = self.hosts[h].latency(self.now);
        for ev in std::mem::take(&mut self.held[h]) {
            self.schedule(self.now + lat, ev);
        }
        for c in 0..self.conns.len() {
            if self.conns[c].host != h {
                continue;
            }
            for d in 0..2 {
                if self.conns[c].pipes[d].stalled {
                    self.conns[c].pipes[d].stalled = false;
                    self.conns[c].pipes[d].scheduled = true;
                    self.schedule(self.now + lat, Ev::Deliver(c, d));
                }
            }
        }
    }

    fn squat(&mut self, host: usize, port: u16, mode: Squatter) {
        let k = self.squatters.len();
        if self.hosts[host]
            .bind(port, PortOwner::Squatter(k))
            .is_some()
        {
            self.log("squatter", format_args!("takes port {port} on host {host}"));
            self.squatters.push(SquatterProc {
                host,
                port,
                mode,
                alive: true,
                next_conn: 0,
            });
        }
    }

    fn unsquat(&mut self, h: usize) {
        for k in 0..self.squatters.len() {
            if self.squatters[k].host == h && self.squatters[k].alive {
                let port = self.squatters[k].port;
                self.log("squatter", format_args!("frees port {port} on host {h}"));
                self.squatters[k].alive = false;
                self.hosts[h].unbind_all(PortOwner::Squatter(k));
                self.kill_ends(NodeId::Squatter(k), 0, true);
            }
        }
    }

    pub(super) fn crash_client(&mut self, i: usize, silent: bool) {
        if self.clients[i].core.is_none() {
            return;
        }
        let how = if silent { "vanishes" } else { "dies" };
        self.log(format_args!("client{i}"), format_args!("process {how}"));
        self.exit_client(i, !silent);
    }

    /// The client process exits (after a crash or after it finished); with
    /// `fin` its connections are closed, else they just stop answering.
    pub(super) fn exit_client(&mut self, i: usize, fin: bool) {
        let inc = self.clients[i].incarnation;
        self.clients[i].core = None;
        self.clients[i].open.clear();
        let h = self.clients[i].host;
        self.hosts[h].unbind_all(PortOwner::Client(i, inc));
        self.kill_ends(NodeId::Client(i), inc, fin);
    }

    /// The server process stops: after a shutdown (graceful) or at once.
    fn stop_server(&mut self, graceful: bool) {
        let inc = self.server.incarnation;
        let now = self.clock(NodeId::Server);
        let Some(core) = self.server.core.as_mut() else {
            return;
        };
        if graceful {
            core.shutdown(now);
            self.drain_server();
            let done = self.server.core.as_ref().is_some_and(|c| c.is_shut_down());
            if !done {
                return self.fail("server: shutdown left connections or outputs behind");
            }
            self.log("server", format_args!("process #{inc} shut down"));
        } else {
            self.log("server", format_args!("process #{inc} dies"));
            self.ledger.server_died(inc);
        }
        self.server.core = None;
        self.server.open.clear();
        self.kill_ends(NodeId::Server, inc, true);
    }

    /// After the schedule: everything heals, stopped processes start again,
    /// and the system must deliver; then every client logs out, every session
    /// ends, and the accounting must balance.
    pub(super) fn settle(&mut self) {
        self.log("settle", "healing every fault");
        for h in 0..self.hosts.len() {
            self.hosts[h].link.firewall = Firewall::Open;
            self.hosts[h].link.extra_until = Duration::ZERO;
            self.heal(h);
            self.unsquat(h);
        }
        self.start_server();
        for i in 0..self.clients.len() {
            self.start_client(i);
        }
        let settle = self.cfg.settle;
        self.run_until(self.now + settle);
        for i in 0..self.clients.len() {
            self.app_notify(Recipient::User(i), 1);
        }
        self.run_until(self.now + settle);
        if self.violation.is_some() {
            return;
        }
        self.check_liveness();
        if self.violation.is_some() {
            return;
        }
        self.log("settle", "every client logs out");
        for i in 0..self.clients.len() {
            let now = self.clock(NodeId::Client(i));
            if let Some(core) = self.clients[i].core.as_mut() {
                let _ = core.logout(now); // a finished client refuses; that is fine
                self.drain_client(i);
            }
        }
        let deadline = self.now + 3 * self.cfg.lease + settle;
        while self.violation.is_none() && self.now < deadline {
            let idle = self.server.core.as_ref().is_some_and(|s| s.is_idle())
                && (0..self.clients.len()).all(|i| !self.client_running(i));
            if idle {
                break;
            }
            self.run_until(self.now + Duration::from_secs(1));
        }
        if self.violation.is_some() {
            return;
        }
        if let Some(core) = &self.server.core
            && !core.is_idle()
        {
            let (s, c) = (core.session_count(), core.connection_count());
            self.fail(format!(
                "after every client logged out and every lease ran out, the server still holds \
                 {s} sessions and {c} connections"
            ));
        }
        if let Some(i) = (0..self.clients.len()).find(|&i| self.client_running(i)) {
            self.fail(format!("client {i} has not finished after its logout"));
        }
    }

    /// With every fault healed, every running client is logged in and its
    /// session's queue is empty: everything accepted for it was delivered.
    fn check_liveness(&mut self) {
        for i in 0..self.clients.len() {
            let Some(core) = self.clients[i].core.as_ref() else {
                continue;
            };
            if core.is_finished() {
                continue;
            }
            let state = core.state();
            let faxnotify_core::client::ClientState::LoggedIn { session, .. } = state else {
                return self.fail(format!(
                    "liveness: client {i} is not logged in after the faults healed: {state:?}"
                ));
            };
            let info = self.server.core.as_ref().and_then(|s| s.session(session));
            match info {
                None => {
                    return self.fail(format!(
                        "liveness: client {i} holds session {session}, which the server does not have"
                    ));
                }
                Some(info) if info.queue_depth > 0 => {
                    return self.fail(format!(
                        "liveness: session {session} of client {i} still holds {} notifications \
                         (path {:?}, acked {}, last {})",
                        info.queue_depth, info.path, info.acked_seq, info.last_seq
                    ));
                }
                Some(_) => {}
            }
        }
    }
}
