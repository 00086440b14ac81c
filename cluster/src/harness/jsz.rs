//! JetStream's meta group as the nodes' monitoring endpoints report it.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use super::node::Node;

/// Whether the cluster is ready, and what it looks like for a message.
pub(crate) struct MetaState {
    pub ready: bool,
    pub describe: String,
}

/// Ready when every node names the same meta leader and that leader sees
/// all other nodes as current (a single node: JetStream answers at all).
pub(crate) fn meta_state(nodes: &[&Node]) -> MetaState {
    let mut leaders = Vec::new();
    let mut describe = Vec::new();
    let mut leader_sees_all = false;
    for node in nodes {
        let Some(jsz) = get_json(&node.ports().monitoring, "/jsz") else {
            describe.push(format!("n{}: no /jsz answer", node.index()));
            leaders.push(None);
            continue;
        };
        let meta = jsz.get("meta_cluster");
        let leader = meta
            .and_then(|m| m.get("leader"))
            .and_then(|l| l.as_str())
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        if nodes.len() == 1 {
            // A lone node has no meta group; its /jsz answering is enough.
            leader_sees_all = true;
            leaders.push(Some(format!("n{}", node.index())));
            continue;
        }
        if leader.as_deref() == Some(&format!("n{}", node.index())) {
            let current = meta
                .and_then(|m| m.get("replicas"))
                .and_then(|r| r.as_array())
                .map(|r| {
                    r.iter()
                        .filter(|p| p.get("current").and_then(|c| c.as_bool()) == Some(true))
                        .count()
                })
                .unwrap_or(0);
            leader_sees_all = current + 1 >= nodes.len();
            describe.push(format!(
                "n{}: leader, {current} current peers",
                node.index()
            ));
        } else {
            describe.push(format!("n{}: leader {leader:?}", node.index()));
        }
        leaders.push(leader);
    }
    let agreed =
        leaders.first().cloned().flatten().is_some() && leaders.windows(2).all(|w| w[0] == w[1]);
    MetaState {
        ready: agreed && leader_sees_all,
        describe: describe.join("; "),
    }
}

/// GET `path` from `base` (`http://127.0.0.1:P`) as JSON, bounded.
fn get_json(base: &str, path: &str) -> Option<serde_json::Value> {
    let addr = base.strip_prefix("http://")?;
    let addr = addr.parse().ok()?;
    let bound = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, bound).ok()?;
    stream.set_read_timeout(Some(bound)).ok()?;
    stream.set_write_timeout(Some(bound)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let body_at = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    serde_json::from_slice(&response[body_at..]).ok()
}
