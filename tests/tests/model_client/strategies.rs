//! Which steps to try from a model state: mostly the ones a server would
//! take there, with the protocol's error cases mixed in.

use faxnotify_core::wire::ByeReason;
use proptest::prelude::*;
use proptest::sample::select;

use super::reference::{ClientModel, CtlState, Listen, Phase};
use super::transition::{FirstSeq, Grant, Hello, LoginError, On, Transition};

fn first() -> impl Strategy<Value = FirstSeq> {
    prop_oneof![
        8 => Just(FirstSeq::Next),
        3 => Just(FirstSeq::Repeat),
        1 => Just(FirstSeq::Gap),
    ]
}

/// The steps worth trying from `state`: only steps whose preconditions
/// ([`ClientModel`]'s `preconditions`) hold there, so no case is ever
/// rejected and any number of cases can run (`max_local_rejects` is 0).
pub fn transition(state: &ClientModel) -> BoxedStrategy<Transition> {
    let running = state.phase == Phase::Running;
    let ctl = state.control.as_ref().map(|c| c.state);
    let can_resume = state.control.as_ref().is_some_and(|c| c.resume.is_some());
    let pending: Vec<usize> = state
        .callbacks
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.id)
        .collect();
    let ready: Vec<usize> = state
        .callbacks
        .iter()
        .filter(|c| c.ready)
        .map(|c| c.id)
        .collect();
    let all: Vec<usize> = state.callbacks.iter().map(|c| c.id).collect();

    let mut options: Vec<(u32, BoxedStrategy<Transition>)> = vec![
        (
            3,
            prop_oneof![
                Just(1u64),
                Just(499),
                Just(2_999),
                Just(3_000),
                Just(5_000),
                Just(9_000),
                1u64..12_000
            ]
            .prop_map(|ms| Transition::Advance { ms })
            .boxed(),
        ),
        (1, Just(Transition::Accept).boxed()),
    ];
    if matches!(state.listen, Listen::Pending(_) | Listen::Abandoned) {
        options.push((
            8,
            prop::bool::weighted(0.8)
                .prop_map(|free| Transition::Bind { free })
                .boxed(),
        ));
    }
    match ctl {
        Some(CtlState::Dialling) => options.push((
            8,
            prop::bool::weighted(0.8)
                .prop_map(|ok| Transition::Dial { ok })
                .boxed(),
        )),
        Some(CtlState::AwaitHello) if running => {
            // A server grants a resume only to a client that asked for one.
            let grant = if can_resume {
                prop_oneof![
                    3 => Just(Grant::Resumed),
                    1 => Just(Grant::New),
                ]
                .boxed()
            } else {
                Just(Grant::New).boxed()
            };
            options.push((
                8,
                grant.prop_map(|grant| Transition::Login { grant }).boxed(),
            ));
            options.push((
                1,
                prop_oneof![
                    Just(LoginError::UnknownSession),
                    Just(LoginError::LimitExceeded),
                    Just(LoginError::ShuttingDown),
                ]
                .prop_map(|error| Transition::LoginRefused { error })
                .boxed(),
            ));
        }
        Some(CtlState::Established) if running => {
            options.push((
                3,
                (0u8..3)
                    .prop_map(|state| Transition::Status { state })
                    .boxed(),
            ));
            options.push((4, Just(Transition::Accept).boxed()));
            options.push((
                4,
                (first(), 1u8..4)
                    .prop_map(|(first, count)| Transition::Notify {
                        on: On::Control,
                        first,
                        count,
                    })
                    .boxed(),
            ));
            options.push((1, Just(Transition::Ping { on: On::Control }).boxed()));
            options.push((
                1,
                select(ByeReason::ALL)
                    .prop_map(|reason| Transition::Bye { reason })
                    .boxed(),
            ));
            options.push((1, Just(Transition::Logout).boxed()));
        }
        // Logging out: the server may still say BYE.
        Some(CtlState::Established) => options.push((
            1,
            select(ByeReason::ALL)
                .prop_map(|reason| Transition::Bye { reason })
                .boxed(),
        )),
        _ => {}
    }
    if ctl.is_some_and(|c| c != CtlState::Dialling) {
        options.push((1, Just(Transition::CloseControl).boxed()));
    }
    if !pending.is_empty() {
        let hello = prop_oneof![
            6 => Just(Hello::Valid),
            1 => Just(Hello::WrongSession),
            1 => Just(Hello::BadProof),
        ];
        options.push((
            6,
            (select(pending), hello)
                .prop_map(|(cb, hello)| Transition::CbHello { cb, hello })
                .boxed(),
        ));
    }
    if !ready.is_empty() {
        options.push((
            8,
            (select(ready.clone()), first(), 1u8..5)
                .prop_map(|(cb, first, count)| Transition::Notify {
                    on: On::Callback(cb),
                    first,
                    count,
                })
                .boxed(),
        ));
        options.push((
            1,
            select(ready)
                .prop_map(|cb| Transition::Ping {
                    on: On::Callback(cb),
                })
                .boxed(),
        ));
    }
    if !all.is_empty() {
        options.push((
            1,
            select(all)
                .prop_map(|cb| Transition::CloseCallback { cb })
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}
