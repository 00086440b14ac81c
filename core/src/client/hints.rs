//! Human hints for callback states the user can do something about.

use std::net::SocketAddr;

use crate::wire::CallbackState;

use super::settings::ListenPolicy;

/// A sentence telling the user why the server cannot reach the callback and
/// what to change, or `None` when delivery works.
pub(crate) fn callback_hint(
    state: CallbackState,
    policy: ListenPolicy,
    port: u16,
    callback: Option<SocketAddr>,
) -> Option<String> {
    if policy == ListenPolicy::None {
        // No listener: the backchannel is the plan, not a problem.
        return None;
    }
    let consequence = match state {
        CallbackState::Unreachable => {
            "; until then notifications wait on the server (nothing is lost)"
        }
        CallbackState::Backchannel => {
            "; meanwhile notifications arrive over the control connection"
        }
        _ => return None,
    };
    let target = match callback {
        Some(addr) => format!("{addr}"),
        None => format!("port {port}"),
    };
    let action = match policy {
        ListenPolicy::Range { lo, hi } => {
            format!("open ports {lo}-{hi} (TCP) inbound on this host's firewall")
        }
        ListenPolicy::Fixed { port } => {
            format!("open port {port} (TCP) inbound on this host's firewall")
        }
        _ => "the operating system chose this port, so a firewall cannot be opened for it: \
              use a `range` or `fixed` listen policy and open it inbound on this host's \
              firewall"
            .to_owned(),
    };
    Some(format!(
        "the server cannot reach {target}: {action}{consequence}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_what_to_open() {
        let fixed = callback_hint(
            CallbackState::Unreachable,
            ListenPolicy::Fixed { port: 6003 },
            6003,
            None,
        )
        .expect("a hint");
        assert!(
            fixed.starts_with("the server cannot reach port 6003: open port 6003"),
            "{fixed}"
        );
        assert!(fixed.contains("wait on the server"), "{fixed}");
        let dynamic = callback_hint(
            CallbackState::Backchannel,
            ListenPolicy::Dynamic,
            41000,
            Some("192.0.2.10:41000".parse().expect("addr")),
        )
        .expect("a hint");
        assert!(dynamic.contains("192.0.2.10:41000"), "{dynamic}");
        assert!(
            dynamic.contains("use a `range` or `fixed` listen policy"),
            "{dynamic}"
        );
        assert!(dynamic.contains("control connection"), "{dynamic}");
        assert_eq!(
            callback_hint(CallbackState::Reachable, ListenPolicy::Dynamic, 41000, None),
            None
        );
    }
}
