//! What a simulation runs: the machines and clients that take part, and a
//! schedule of application work and faults.
//!
//! Indices in [`Action`]s (clients, hosts) are taken modulo the number that
//! exist, so every schedule is valid for every topology; that is what lets
//! proptest shrink schedules and topologies independently.

use std::time::Duration;

use faxnotify_core::client::ListenPolicy;

use super::rng::SimRng;

/// One client process's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// How it picks its callback port.
    pub policy: ListenPolicy,
    /// Whether it offers BACKCHANNEL (without it an unreachable callback
    /// queues notifications until the callback works again).
    pub backchannel: bool,
    /// In a run over TLS: it trusts the server by pinning its certificate's
    /// fingerprint rather than through the CA [T-4].
    pub pinned: bool,
}

/// A machine with client processes (several share its IP address, as on a
/// Terminal Server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// The clients on the host; each logs in as its own user.
    pub clients: Vec<ClientSpec>,
    /// The server's socket reports the host's address IPv4-mapped
    /// (`::ffff:a.b.c.d`, a dual-stack listener); the server must still dial
    /// and report it as IPv4 [C-1].
    pub mapped_v6: bool,
}

/// Who the server's application notifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// Every session of client `n`'s user (after a crash and restart the
    /// old, detached session and the new one both get it).
    User(usize),
    /// The newest session of client `n`'s user, by id.
    NewestSession(usize),
    /// Every session.
    All,
}

/// How a server dial to a host with its firewall up fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firewall {
    /// No firewall.
    Open,
    /// SYNs are dropped: dials hang until the server gives up on them.
    Drop,
    /// Dials are refused at once.
    Reject,
}

/// What a foreign process squatting a port does with connections the
/// server makes to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Squatter {
    /// Accepts and never says anything.
    Silent,
    /// Speaks the callback handshake without the session key: CB_CHALLENGE,
    /// then a CB_READY with a made-up proof.
    Impostor,
    /// Sends bytes that are not FNP/1.
    Garbage,
}

/// A machine in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// The server's machine.
    Server,
    /// Client host `n` (all its clients share its clock).
    Host(usize),
}

/// One thing that happens at a moment of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The server's application sends `count` notifications.
    Notify {
        /// To whom.
        to: Recipient,
        /// How many (each a distinct message).
        count: u8,
    },
    /// The server's application ends the newest session of client `n`'s user.
    EndSession(usize),
    /// The control connection of client `n` is reset (both ends see it close).
    ResetControl(usize),
    /// Every callback connection of client `n` is reset.
    ResetCallback(usize),
    /// Packets between a host and the server take `extra_ms` longer for `for_ms`.
    Delay {
        /// The host.
        host: usize,
        /// Added one-way latency.
        extra_ms: u32,
        /// How long the slowdown lasts.
        for_ms: u32,
    },
    /// Nothing passes between a host and the server until [`Action::Heal`].
    Partition(usize),
    /// Ends a partition of the host.
    Heal(usize),
    /// Sets the host's firewall for the server's dials to its callback ports.
    Firewall(usize, Firewall),
    /// A client's process dies: its listener is gone and everything it knew
    /// is lost.
    CrashClient {
        /// The client.
        client: usize,
        /// `false`: the OS closes its connections (the server sees them
        /// close); `true`: they vanish without a word, as when the machine
        /// loses power, and the server learns only when it writes to them
        /// (and gets a RST) or when its timers run out.
        silent: bool,
    },
    /// A client's process vanishes silently (if it runs) and a foreign
    /// process takes the port its listener had, while the server may still
    /// dial it for the old session.
    StealPort {
        /// The client.
        client: usize,
        /// What the foreign process does.
        mode: Squatter,
    },
    /// Client `n` starts again (if it is not running) and logs in anew.
    StartClient(usize),
    /// Client `n`'s user logs out (the process then finishes; a later
    /// [`Action::StartClient`] starts it again).
    Logout(usize),
    /// The server restarts: `graceful` shuts down first (sessions end with
    /// BYE shutdown and undelivered notifications are reported); otherwise
    /// the process dies. It is back after `down_ms`.
    RestartServer {
        /// Shutdown before exit.
        graceful: bool,
        /// Downtime.
        down_ms: u32,
    },
    /// A foreign process takes a port on a host (if it is free).
    Squat {
        /// The host.
        host: usize,
        /// The port (a client's fixed or range port, usually).
        port: u16,
        /// What it does with connections.
        mode: Squatter,
    },
    /// Foreign processes on the host exit, freeing their ports.
    Unsquat(usize),
    /// The machine's monotonic clock leaps forward (a suspended VM or laptop
    /// waking up): its processes see `ms` pass at once.
    ClockJump {
        /// Whose clock.
        machine: Machine,
        /// How far.
        ms: u32,
    },
}

/// An action and the time since the previous step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Virtual milliseconds after the previous step.
    pub after_ms: u32,
    /// What happens.
    pub action: Action,
}

/// Everything one simulation needs besides its seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The client machines.
    pub hosts: Vec<HostSpec>,
    /// Work and faults, in time order.
    pub steps: Vec<Step>,
    /// The server has a TLS identity and every client trusts it: control
    /// and callback connections all run TLS 1.3 [T-1]. (TLS is the whole
    /// run's or none: a TLS server never falls back to plain TCP [T-3].)
    pub tls: bool,
}

impl Scenario {
    /// The number of clients on all hosts.
    pub fn client_count(&self) -> usize {
        self.hosts.iter().map(|h| h.clients.len()).sum()
    }

    /// The virtual time the schedule spans.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.steps.iter().map(|s| u64::from(s.after_ms)).sum())
    }

    /// A random scenario: 1..=3 hosts with 1..=3 clients each (sometimes 5,
    /// more than the server's dial slots per address, and then some fixed
    /// ports clash as when a user starts a second instance), and about
    /// `steps` actions over a few virtual minutes, faults mixed with work;
    /// three runs in ten over TLS, each client trusting the server through
    /// the CA or by a pin.
    pub fn random(rng: &mut SimRng, steps: usize) -> Scenario {
        let host_count = rng.range(1, 3) as usize;
        let mut hosts = Vec::new();
        for _ in 0..host_count {
            let n = if rng.chance(15) {
                5
            } else {
                rng.range(1, 3) as usize
            };
            let clients = (0..n)
                .map(|i| ClientSpec {
                    policy: match rng.below(3) {
                        0 => ListenPolicy::Dynamic,
                        1 => ListenPolicy::Range { lo: 6000, hi: 6003 },
                        _ => ListenPolicy::Fixed {
                            port: 7000 + (i % 2) as u16,
                        },
                    },
                    backchannel: rng.chance(70),
                    pinned: false,
                })
                .collect();
            hosts.push(HostSpec {
                clients,
                mapped_v6: rng.chance(25),
            });
        }
        let clients = hosts.iter().map(|h| h.clients.len()).sum::<usize>();
        let mut out = Vec::new();
        for _ in 0..steps {
            let client = rng.below(clients as u64) as usize;
            let host = rng.below(host_count as u64) as usize;
            let action = match rng.below(100) {
                0..=39 => Action::Notify {
                    to: match rng.below(10) {
                        0..=5 => Recipient::User(client),
                        6..=8 => Recipient::NewestSession(client),
                        _ => Recipient::All,
                    },
                    count: rng.range(1, 12) as u8,
                },
                40..=46 => Action::ResetControl(client),
                47..=53 => Action::ResetCallback(client),
                54..=57 => Action::Delay {
                    host,
                    extra_ms: rng.range(50, 4_000) as u32,
                    for_ms: rng.range(1_000, 20_000) as u32,
                },
                58..=62 => Action::Partition(host),
                63..=68 => Action::Heal(host),
                69..=72 => Action::Firewall(
                    host,
                    *rng.pick(&[Firewall::Open, Firewall::Drop, Firewall::Reject]),
                ),
                73..=75 => Action::CrashClient {
                    client,
                    silent: rng.chance(40),
                },
                76 => Action::StealPort {
                    client,
                    mode: *rng.pick(&[Squatter::Silent, Squatter::Impostor, Squatter::Garbage]),
                },
                77..=81 => Action::StartClient(client),
                82..=83 => Action::RestartServer {
                    graceful: rng.chance(60),
                    down_ms: rng.range(100, 20_000) as u32,
                },
                84..=86 => Action::Squat {
                    host,
                    port: *rng.pick(&[6000, 6001, 6002, 7000, 7001, 40000, 40001]),
                    mode: *rng.pick(&[Squatter::Silent, Squatter::Impostor, Squatter::Garbage]),
                },
                87..=88 => Action::Unsquat(host),
                89..=91 => Action::ClockJump {
                    machine: if rng.chance(30) {
                        Machine::Server
                    } else {
                        Machine::Host(host)
                    },
                    ms: rng.range(1_000, 90_000) as u32,
                },
                92 => Action::EndSession(client),
                93 => Action::Logout(client),
                _ => Action::Notify {
                    to: Recipient::User(client),
                    count: 40,
                },
            };
            // Mostly short gaps (bursts), sometimes long quiet stretches.
            let after_ms = match rng.below(10) {
                0..=5 => rng.range(0, 2_000),
                6..=8 => rng.range(2_000, 15_000),
                _ => rng.range(15_000, 60_000),
            } as u32;
            out.push(Step { after_ms, action });
        }
        // Drawn last, so the topology and schedule of a seed do not depend
        // on whether it runs over TLS.
        let tls = rng.chance(30);
        if tls {
            for client in hosts.iter_mut().flat_map(|h| h.clients.iter_mut()) {
                client.pinned = rng.chance(50);
            }
        }
        Scenario {
            hosts,
            steps: out,
            tls,
        }
    }
}
