//! Who is at the other end of an admin socket (SO_PEERCRED).
//!
//! `notify`, `sessions` and `end-session` talk only to a server run by
//! root or by their own user: anyone else answering at the path took it
//! while the real server was down and would receive the notification and
//! forge its reply (issue 17, case 5). The server likewise refuses to
//! start on a path another user's process serves.

use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{Uid, User, geteuid};

/// The peer's user id.
pub fn peer_uid(stream: &UnixStream) -> Result<u32, String> {
    getsockopt(stream, PeerCredentials)
        .map(|cred| cred.uid())
        .map_err(|e| format!("cannot learn who serves the admin socket: {e}"))
}

/// Whether a peer running as `peer` may be trusted by a process running as
/// `me`: root, or the same user.
pub fn trusted(peer: u32, me: u32) -> bool {
    peer == 0 || peer == me
}

/// This process's effective user id.
pub fn my_uid() -> u32 {
    geteuid().as_raw()
}

/// "uid 65534 (nobody)", or just the number when the name is unknown.
pub fn describe_uid(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_or_the_same_user_is_trusted() {
        assert!(trusted(0, 1000));
        assert!(trusted(1000, 1000));
        assert!(trusted(0, 0));
        assert!(!trusted(1001, 1000));
        assert!(!trusted(65534, 0));
    }

    #[test]
    fn a_socket_pair_is_our_own_user() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a), Ok(my_uid()));
        assert!(describe_uid(0).starts_with("uid 0"));
    }
}
