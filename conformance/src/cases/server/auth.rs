//! The login against a server: its signature, capabilities, wrong and
//! replayed proofs, and unknown users.

use faxnotify_core::auth::{DEFAULT_ITERATION_CAP, MIN_ITERATIONS, client_proof};
use faxnotify_core::wire::{Caps, ErrorCode, Frame, Login, MIN_SALT_LEN};

use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::server_ctx::{ServerCtx, expect_challenge};

const S: Section = Section::Authentication;

pub(crate) const CASES: &[Case] = &[
    Case::server(
        "server/auth/login-ok-signature",
        S,
        &["A-1", "A-2", "A-4", "C-10"],
        "a valid login gets LOGIN_OK with a server_signature over the whole handshake; session ids are random, non-zero and not reused",
        login_ok_signature,
    ),
    Case::server(
        "server/auth/caps-intersection",
        S,
        &["S3-caps"],
        "LOGIN_OK.caps is SERVER_HELLO.caps AND LOGIN.caps, unknown bits included",
        caps_intersection,
    ),
    Case::server(
        "server/auth/wrong-proof",
        S,
        &["A-1"],
        "a LOGIN_PROOF one bit off gets AUTH_FAILED",
        wrong_proof,
    ),
    Case::server(
        "server/auth/replayed-proof",
        S,
        &["A-1", "A-4"],
        "a replayed LOGIN gets a fresh server nonce, and the replayed proof gets AUTH_FAILED",
        replayed_proof,
    ),
    Case::server(
        "server/auth/unknown-user",
        S,
        &["A-3"],
        "an unknown user gets a stable 16-byte salt, valid iterations, and the same AUTH_FAILED as a wrong password",
        unknown_user,
    ),
];

fn login_ok_signature(ctx: &mut ServerCtx<'_>) -> Verdict {
    let session = ctx.login()?;
    let iterations = session.challenge.iterations;
    let check = ensure(
        (MIN_ITERATIONS..=DEFAULT_ITERATION_CAP).contains(&iterations),
        format!(
            "LOGIN_CHALLENGE iterations within {MIN_ITERATIONS}..={DEFAULT_ITERATION_CAP}, which clients accept [A-4]"
        ),
        || Frame::LoginChallenge(session.challenge.clone()).to_string(),
    );
    ctx.soft(check)?;
    let check = ensure(
        session.challenge.server_nonce != [0; 32]
            && session.challenge.server_nonce != session.login.client_nonce,
        "a random 32-byte server nonce [A-4]",
        || Frame::LoginChallenge(session.challenge.clone()).to_string(),
    );
    ctx.soft(check)?;
    let first = session.ok.clone();
    // Ended by dropping it before ADVERTISE: its LOGOUT there is
    // UNEXPECTED_FRAME [C-3], and that ERROR ends the session [F-6].
    drop(session);
    let second = ctx.login()?.ok.clone();
    // A random u64 is below 2^32 with probability 2^-32: two such ids in a
    // row are a counter, not a random number.
    let small = |id: u64| id < 1 << 32;
    let check = ensure(
        first.session_id != 0
            && second.session_id != 0
            && first.session_id != second.session_id
            && !(small(first.session_id) && small(second.session_id)),
        "random, non-zero session ids, never the same twice [C-10]",
        || {
            format!(
                "session_id={:#018x}, then session_id={:#018x}",
                first.session_id, second.session_id
            )
        },
    );
    ctx.soft(check)
}

fn caps_intersection(ctx: &mut ServerCtx<'_>) -> Verdict {
    for offered in [
        Caps::from_bits(u32::MAX),
        Caps::NONE,
        Caps::from_bits(0xfff0_0001),
    ] {
        let mut plan = ctx.plan()?;
        plan.caps = offered;
        let session = ctx.login_with(&plan)?;
        let want = session.hello.caps.intersection(offered);
        ensure(
            session.ok.caps == want,
            format!(
                "LOGIN_OK caps={want} (SERVER_HELLO caps={} AND LOGIN caps={offered})",
                session.hello.caps
            ),
            || Frame::LoginOk(session.ok.clone()).to_string(),
        )?;
        drop(session);
    }
    Ok(())
}

fn wrong_proof(ctx: &mut ServerCtx<'_>) -> Verdict {
    let plan = ctx.plan()?;
    let (mut conn, hello) = ctx.connect_hello()?;
    let login = Login {
        version: plan.version,
        user: plan.user.clone().into(),
        client_nonce: ctx.nonce(),
        caps: plan.caps,
        resume_session: 0,
    };
    conn.send(&Frame::Login(login.clone()))?;
    let challenge = expect_challenge(&mut conn)?;
    let (auth, secrets) = ctx.secrets(&hello, &login, &challenge, &plan.password)?;
    let mut proof = client_proof(&secrets, &conn.bind(auth));
    proof[31] ^= 1;
    conn.send(&Frame::LoginProof { proof })?;
    conn.expect_error(ErrorCode::AuthFailed)?;
    Ok(())
}

fn replayed_proof(ctx: &mut ServerCtx<'_>) -> Verdict {
    let first = ctx.login()?;
    let login = Frame::Login(first.login.clone());
    let first_nonce = first.challenge.server_nonce;
    let password = ctx.plan()?.password;
    let (first_auth, secrets) =
        ctx.secrets(&first.hello, &first.login, &first.challenge, &password)?;
    let proof = client_proof(&secrets, &first.control.bind(first_auth));
    drop(first);

    let (mut conn, _) = ctx.connect_hello()?;
    conn.send(&login)?;
    let challenge = expect_challenge(&mut conn).map_err(|f| f.during("for a replayed LOGIN"))?;
    ensure(
        challenge.server_nonce != first_nonce,
        "a fresh server nonce for a replayed LOGIN [A-4]",
        || {
            format!(
                "the same nonce again: {}",
                Frame::LoginChallenge(challenge.clone())
            )
        },
    )?;
    conn.send(&Frame::LoginProof { proof })?;
    conn.expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during("for the previous login's proof replayed [A-1]"))?;
    Ok(())
}

fn unknown_user(ctx: &mut ServerCtx<'_>) -> Verdict {
    let plan = ctx.plan()?;
    let nobody = format!("fnp1-nobody-{:08x}", ctx.random_u64() & 0xffff_ffff);

    // A wrong password for the real user, for comparison.
    let (mut conn, hello) = ctx.connect_hello()?;
    let real = Login {
        version: plan.version,
        user: plan.user.clone().into(),
        client_nonce: ctx.nonce(),
        caps: plan.caps,
        resume_session: 0,
    };
    conn.send(&Frame::Login(real.clone()))?;
    let challenge = expect_challenge(&mut conn)?;
    let (auth, secrets) = ctx.secrets(&hello, &real, &challenge, "not the password")?;
    conn.send(&Frame::LoginProof {
        proof: client_proof(&secrets, &conn.bind(auth)),
    })?;
    let wrong_password = conn
        .expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during("for a wrong password"))?;

    // The unknown user, twice.
    let mut challenges = Vec::new();
    for attempt in 0..2 {
        let (mut conn, hello) = ctx.connect_hello()?;
        let login = Login {
            version: plan.version,
            user: nobody.clone().into(),
            client_nonce: ctx.nonce(),
            caps: plan.caps,
            resume_session: 0,
        };
        conn.send(&Frame::Login(login.clone()))?;
        let challenge = expect_challenge(&mut conn).map_err(|f| {
            f.during(&format!(
                "for unknown user {nobody:?}, like for a real one [A-3]"
            ))
        })?;
        let check = ensure(
            challenge.salt.len() == MIN_SALT_LEN,
            "an unknown user's salt of 16 bytes (the first 16 of an HMAC) [A-3]",
            || Frame::LoginChallenge(challenge.clone()).to_string(),
        );
        ctx.soft(check)?;
        let check = ensure(
            (MIN_ITERATIONS..=DEFAULT_ITERATION_CAP).contains(&challenge.iterations),
            "the default iteration count, which clients accept [A-3]",
            || Frame::LoginChallenge(challenge.clone()).to_string(),
        );
        ctx.soft(check)?;
        if attempt == 0 {
            let (auth, secrets) = ctx.secrets(&hello, &login, &challenge, "any password")?;
            conn.send(&Frame::LoginProof {
                proof: client_proof(&secrets, &conn.bind(auth)),
            })?;
            let err = conn
                .expect_error(ErrorCode::AuthFailed)
                .map_err(|f| f.during("for an unknown user's proof [A-3]"))?;
            let check = ensure(
                err.message == wrong_password.message,
                format!(
                    "the same ERROR message as for a wrong password ({:?}) [A-3]",
                    wrong_password.message
                ),
                || format!("ERROR {} message={:?}", err.code, err.message),
            );
            ctx.soft(check)?;
        }
        challenges.push(challenge);
    }
    let (a, b) = (&challenges[0], &challenges[1]);
    if a.salt != b.salt || a.iterations != b.iterations {
        return Err(Fail::failed(
            "the same salt and iterations for every probe of one unknown name, as a real user has [A-3]",
            format!(
                "{} then {}",
                Frame::LoginChallenge(a.clone()),
                Frame::LoginChallenge(b.clone())
            ),
        ));
    }
    Ok(())
}
