//! Reading the bytes the cores write: every `Transmit` must be whole frames
//! (checked on its own, with a fresh decoder), and the simulator looks at a
//! few frames to learn which session a connection serves and which
//! acknowledgements the server was given.

use faxnotify_core::wire::{Frame, decode_whole_frames};

/// Decodes one `Transmit`: it must hold only whole, valid frames.
pub fn whole_frames(data: &[u8]) -> Result<Vec<Frame<'static>>, String> {
    if data.is_empty() {
        return Err("an empty Transmit".to_owned());
    }
    decode_whole_frames(data).map_err(|err| format!("a Transmit {err}"))
}

/// What the simulator wants to know about frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// LOGIN_OK or CB_HELLO: the connection serves this session.
    Session(u64),
    /// ACK seq or CB_READY last_seq: an acknowledgement up to this seq.
    Ack(u64),
}

/// The marks in a run of frames.
pub fn marks<'a>(frames: impl IntoIterator<Item = &'a Frame<'a>>) -> Vec<Mark> {
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::LoginOk(ok) => Some(Mark::Session(ok.session_id)),
            Frame::CbHello(h) => Some(Mark::Session(h.session_id)),
            Frame::Ack { seq } => Some(Mark::Ack(*seq)),
            Frame::CbReady(r) => Some(Mark::Ack(r.last_seq)),
            _ => None,
        })
        .collect()
}

/// FNV-1a, to fold every byte written into one number for the run digest.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
