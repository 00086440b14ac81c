//! Which steps to try from a model state: mostly ones that make sense there
//! (existing connections and sessions), with the protocol's error cases
//! mixed in.

use proptest::prelude::*;
use proptest::sample::select;

use super::reference::{MAX_PENDING_CONNS, Path, Phase, ServerModel, USERS};
use super::transition::{AckOn, AdvPort, NotifyTo, Resume, SeqChoice, Transition};

fn seq_choice() -> impl Strategy<Value = SeqChoice> {
    prop_oneof![
        6 => Just(SeqChoice::Latest),
        2 => Just(SeqChoice::Middle),
        2 => Just(SeqChoice::Acked),
        1 => Just(SeqChoice::Zero),
        1 => Just(SeqChoice::AboveSent),
        1 => Just(SeqChoice::BelowAcked),
    ]
}

fn port() -> impl Strategy<Value = AdvPort> {
    prop_oneof![
        4 => Just(AdvPort::Port(6000)),
        2 => Just(AdvPort::Port(6001)),
        2 => Just(AdvPort::Zero),
        1 => Just(AdvPort::Privileged),
    ]
}

/// The steps worth trying from `state`: only steps whose preconditions
/// ([`ServerModel`]'s `preconditions`) hold there, so no case is ever
/// rejected and any number of cases can run (`max_local_rejects` is 0).
pub fn transition(state: &ServerModel) -> BoxedStrategy<Transition> {
    let conns = state.conns.len();
    let sessions = state.sessions.len();
    let live: Vec<usize> = (0..sessions).filter(|&s| state.sessions[s].live).collect();
    let unauth: Vec<usize> = (0..conns)
        .filter(|&c| state.conns[c].phase == Phase::Unauth)
        .collect();
    let awaiting: Vec<usize> = (0..conns)
        .filter(|&c| matches!(state.conns[c].phase, Phase::AwaitAdvertise(_)))
        .collect();
    // Dials the harness can tell apart (no other pending dial to the same endpoint).
    let dialling: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&s| state.dial_answerable(s))
        .collect();
    let on_callback: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&s| state.sessions[s].path == Path::Callback)
        .collect();
    let attached: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&s| state.sessions[s].control.is_some())
        .collect();

    let mut options: Vec<(u32, BoxedStrategy<Transition>)> = vec![(
        3,
        prop_oneof![
            Just(1u64),
            Just(100),
            Just(499),
            Just(1_000),
            Just(4_999),
            Just(10_003),
            Just(30_011),
            1u64..12_000
        ]
        .prop_map(|ms| Transition::Advance { ms })
        .boxed(),
    )];
    if state.pending_conns() < MAX_PENDING_CONNS {
        let connect = (0u8..3).prop_map(|peer| Transition::Connect { peer });
        options.push((2, connect.boxed()));
    }
    let to = if sessions > 0 {
        prop_oneof![
            2 => Just(NotifyTo::All),
            2 => (0..USERS).prop_map(NotifyTo::User),
            3 => (0..sessions).prop_map(NotifyTo::Session),
        ]
        .boxed()
    } else {
        prop_oneof![Just(NotifyTo::All), (0..USERS).prop_map(NotifyTo::User)].boxed()
    };
    let notify = (to, 1u8..5).prop_map(|(to, count)| Transition::Notify { to, count });
    options.push((4, notify.boxed()));
    if !unauth.is_empty() {
        let fresh = (
            select(unauth.clone()),
            0..USERS,
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.95),
            prop::bool::weighted(0.7),
            prop_oneof![9 => Just(Resume::New), 1 => Just(Resume::Unknown)],
        )
            .prop_map(
                |(conn, user, password_ok, version_ok, backchannel, resume)| Transition::Login {
                    conn,
                    user,
                    password_ok,
                    version_ok,
                    backchannel,
                    resume,
                },
            );
        options.push((5, fresh.boxed()));
        if sessions > 0 {
            // Resumes: mostly of a session of the same user, as a client does.
            let users: Vec<u8> = state.sessions.iter().map(|x| x.user).collect();
            let resume = (
                select(unauth),
                0..sessions,
                prop::bool::weighted(0.85),
                0..USERS,
                prop::bool::weighted(0.7),
            )
                .prop_map(move |(conn, s, own, other, backchannel)| {
                    Transition::Login {
                        conn,
                        user: if own { users[s] } else { other },
                        password_ok: true,
                        version_ok: true,
                        backchannel,
                        resume: Resume::Session(s),
                    }
                });
            let weight = if live.is_empty() { 1 } else { 4 };
            options.push((weight, resume.boxed()));
        }
    }
    if conns > 0 {
        let any = (0..conns, port()).prop_map(|(conn, port)| Transition::Advertise { conn, port });
        options.push((1, any.boxed()));
    }
    if !awaiting.is_empty() {
        let adv = (select(awaiting), port())
            .prop_map(|(conn, port)| Transition::Advertise { conn, port });
        options.push((6, adv.boxed()));
    }
    if !dialling.is_empty() {
        let ok = (select(dialling.clone()), seq_choice())
            .prop_map(|(session, last_seq)| Transition::DialOk { session, last_seq });
        options.push((6, ok.boxed()));
        let fail = select(dialling).prop_map(|session| Transition::DialFail { session });
        options.push((3, fail.boxed()));
    }
    if !on_callback.is_empty() {
        let ack = (select(on_callback.clone()), seq_choice()).prop_map(|(session, seq)| {
            Transition::Ack {
                session,
                on: AckOn::Callback,
                seq,
            }
        });
        options.push((6, ack.boxed()));
        let close = select(on_callback).prop_map(|session| Transition::CloseCallback { session });
        options.push((1, close.boxed()));
    }
    if !attached.is_empty() {
        let ack =
            (select(attached.clone()), seq_choice()).prop_map(|(session, seq)| Transition::Ack {
                session,
                on: AckOn::Control,
                seq,
            });
        options.push((3, ack.boxed()));
        let ping = select(attached.clone()).prop_map(|session| Transition::Ping { session });
        options.push((2, ping.boxed()));
        let close =
            select(attached.clone()).prop_map(|session| Transition::CloseControl { session });
        options.push((2, close.boxed()));
        let logout = select(attached).prop_map(|session| Transition::Logout { session });
        options.push((1, logout.boxed()));
    }
    if sessions > 0 {
        let end = (0..sessions).prop_map(|session| Transition::EndSession { session });
        options.push((1, end.boxed()));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}
