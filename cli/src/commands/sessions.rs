//! `faxnotify sessions` and `faxnotify end-session`: look at and act on a
//! running server's sessions through its admin socket.

use std::path::PathBuf;

use clap::Args as ClapArgs;
use serde_json::Value;

use crate::admin::client::{call, error_of, socket_path};
use crate::admin::protocol::{Request, codes};
use crate::failure::{CmdResult, Exit, Failure};

/// `faxnotify sessions`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The server's admin socket (`faxnotify server --admin-socket`; default:
    /// the server's default path).
    #[arg(
        long,
        visible_alias = "admin",
        env = "FAXNOTIFY_ADMIN_SOCKET",
        value_name = "PATH"
    )]
    admin_socket: Option<PathBuf>,
    /// Print the server's JSON reply (one object with a `sessions` array).
    #[arg(long)]
    json: bool,
}

/// `faxnotify end-session`.
#[derive(Debug, ClapArgs)]
pub struct EndArgs {
    /// The server's admin socket (`faxnotify server --admin-socket`; default:
    /// the server's default path).
    #[arg(
        long,
        visible_alias = "admin",
        env = "FAXNOTIFY_ADMIN_SOCKET",
        value_name = "PATH"
    )]
    admin_socket: Option<PathBuf>,
    /// The session id, as `faxnotify sessions` shows it.
    session: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Runs `faxnotify sessions`.
pub fn run(args: Args) -> CmdResult {
    let reply = call(&socket_path(args.admin_socket)?, &Request::Sessions {})?;
    if let Some((_, message)) = error_of(&reply) {
        return Err(Failure::runtime(message));
    }
    if args.json {
        outln!("{reply}");
        return Ok(Exit::Ok);
    }
    let sessions = reply
        .get("sessions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if sessions.is_empty() {
        if reply.get("cluster").and_then(Value::as_bool) == Some(true) {
            outln!(
                "no sessions on this server (cluster mode: each server lists the sessions it \
                 holds; ask the others' admin sockets)"
            );
        } else {
            outln!("no sessions");
        }
        return Ok(Exit::Ok);
    }
    let columns = [
        ("SESSION", "session"),
        ("USER", "user"),
        ("ROLE", "role"),
        ("PEER", "peer"),
        ("POLICY", "policy"),
        ("CALLBACK", "callback"),
        ("PATH", "path"),
        ("STATE", "callback_state"),
        ("QUEUED", "queue_depth"),
        ("LAST", "last_seq"),
        ("ACKED", "acked_seq"),
    ];
    let mut rows: Vec<Vec<String>> = vec![columns.iter().map(|(h, _)| (*h).to_owned()).collect()];
    for s in &sessions {
        let mut row: Vec<String> = columns.iter().map(|(_, key)| text(&s[*key])).collect();
        if s["attached"] == Value::Bool(false) {
            row[6] = "detached".to_owned();
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        outln!("{}", line.join("  ").trim_end());
    }
    Ok(Exit::Ok)
}

/// Runs `faxnotify end-session`.
pub fn run_end(args: EndArgs) -> CmdResult {
    let reply = call(
        &socket_path(args.admin_socket)?,
        &Request::EndSession {
            session: args.session,
        },
    )?;
    if let Some((code, message)) = error_of(&reply) {
        let exit = if code == codes::NO_SUCH_SESSION {
            Exit::Usage
        } else {
            Exit::Runtime
        };
        return Err(Failure::new(exit, message));
    }
    outln!(
        "ended session {} (the client was told BYE \"ended by server\")",
        text(&reply["session"])
    );
    Ok(Exit::Ok)
}
