//! Authentication: preparation, credentials, proofs and their failure cases.

mod support;

use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, Credentials, CredentialsError, PrepError, cb_hello_proof,
    cb_ready_proof, client_proof, prepare_password, prepare_username, recover_client_key,
    server_signature, session_key, unknown_user_salt, verify_mac,
};
use faxnotify_core::wire::Role;
use support::examples;

#[test]
fn user_names_are_case_mapped_and_normalised() {
    assert_eq!(prepare_username("Alice").unwrap(), "alice");
    assert_eq!(prepare_username("ＡＬＩＣＥ").unwrap(), "alice"); // full-width mapped
    assert_eq!(prepare_username("ÉLOÏSE").unwrap(), "éloïse");
    // Decomposed input comes out NFC-composed.
    assert_eq!(prepare_username("E\u{301}loi\u{308}se").unwrap(), "éloïse");
}

#[test]
fn bad_user_names_are_refused() {
    // "Ǆ" has a compatibility decomposition, which the IdentifierClass disallows.
    for bad in ["", "two words", "tab\there", "ctrl\u{7}", "Ǆemal"] {
        assert!(
            matches!(prepare_username(bad), Err(PrepError::Username { .. })),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn passwords_map_non_ascii_spaces_and_refuse_controls() {
    assert_eq!(
        prepare_password("correct\u{00a0}horse").unwrap(),
        "correct horse"
    );
    assert!(matches!(
        prepare_password(""),
        Err(PrepError::Password { .. })
    ));
    assert!(matches!(
        prepare_password("bell\u{7}"),
        Err(PrepError::Password { .. })
    ));
}

#[test]
fn credentials_hold_the_stored_and_server_keys_of_the_password() {
    let creds =
        Credentials::from_password(examples::PASSWORD, &[0x5a; 16], 4096, Role::Admin).unwrap();
    let ours = examples::auth_values();
    assert_eq!(creds.stored_key(), &ours.secrets.stored_key);
    assert_eq!(creds.server_key(), &ours.secrets.server_key);
    assert_eq!(creds.salt(), &[0x5a; 16]);
    assert_eq!(creds.iterations(), 4096);
    assert_eq!(creds.role(), Role::Admin);
    // Nothing printable leaks key bytes.
    let debug = format!("{creds:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert!(!debug.contains(&hex::encode(ours.secrets.stored_key.as_bytes())));
}

#[test]
fn credentials_refuse_bad_salts_and_iteration_counts() {
    assert_eq!(
        Credentials::from_password("pw", &[0; 15], 4096, Role::User),
        Err(CredentialsError::BadSaltLength { len: 15 })
    );
    assert!(matches!(
        Credentials::from_password("pw", &[0; 16], 4095, Role::User),
        Err(CredentialsError::BadIterations {
            iterations: 4095,
            ..
        })
    ));
    assert!(matches!(
        Credentials::from_password("", &[0; 16], 4096, Role::User),
        Err(CredentialsError::Password(_))
    ));
}

#[test]
fn server_accepts_the_right_proof_and_recovers_the_client_key() {
    let ours = examples::auth_values();
    let recovered =
        recover_client_key(&ours.secrets.stored_key, &ours.auth_message, &ours.proof).unwrap();
    assert_eq!(recovered, ours.secrets.client_key);
    // Both sides derive the same session key.
    assert_eq!(
        session_key(&recovered, &ours.auth_message),
        ours.session_key
    );
}

#[test]
fn wrong_password_or_tampered_handshake_fails_the_proof() {
    let ours = examples::auth_values();
    let wrong = ClientSecrets::derive("correct horsf", &[0x5a; 16], 4096);
    let bad_proof = client_proof(&wrong, &ours.auth_message);
    assert!(recover_client_key(&ours.secrets.stored_key, &ours.auth_message, &bad_proof).is_none());

    // The proof is bound to the exact handshake bytes.
    let mut tampered = ours.auth_message.as_bytes().to_vec();
    tampered[5] ^= 1;
    let tampered = AuthMessage::from_bodies(&tampered, &[], &[]);
    assert!(recover_client_key(&ours.secrets.stored_key, &tampered, &ours.proof).is_none());
}

#[test]
fn server_signature_covers_the_login_ok_fields() {
    let ours = examples::auth_values();
    let mut downgraded = ours.login_ok.clone();
    downgraded.caps = faxnotify_core::wire::Caps::NONE;
    let sig = server_signature(&ours.secrets.server_key, &ours.auth_message, &downgraded);
    assert!(!verify_mac(&ours.login_ok.server_signature, &sig));
    let mut shorter_lease = ours.login_ok.clone();
    shorter_lease.lease_ms = 3_000;
    let sig = server_signature(&ours.secrets.server_key, &ours.auth_message, &shorter_lease);
    assert!(!verify_mac(&ours.login_ok.server_signature, &sig));
}

#[test]
fn callback_proofs_bind_nonces_session_and_seq() {
    let key = examples::auth_values().session_key;
    let base = cb_hello_proof(&key, &[3; 32], &[4; 32], 7);
    assert_ne!(base, cb_hello_proof(&key, &[3; 32], &[4; 32], 8));
    assert_ne!(base, cb_hello_proof(&key, &[5; 32], &[4; 32], 7));
    let ready = cb_ready_proof(&key, &[3; 32], &[4; 32], 7, 1);
    assert_ne!(ready, cb_ready_proof(&key, &[3; 32], &[4; 32], 7, 2));
    assert_ne!(ready, base, "the two proofs use different labels");
}

#[test]
fn unknown_user_salt_is_stable_per_name_and_secret() {
    let a = unknown_user_salt(&[9; 32], "mallory");
    assert_eq!(a, unknown_user_salt(&[9; 32], "mallory"));
    assert_ne!(a, unknown_user_salt(&[9; 32], "mallorz"));
    assert_ne!(a, unknown_user_salt(&[8; 32], "mallory"));
}

#[test]
fn verify_mac_compares_all_bytes() {
    let a = [7u8; 32];
    let mut b = a;
    assert!(verify_mac(&a, &b));
    b[31] ^= 0x80;
    assert!(!verify_mac(&a, &b));
}
