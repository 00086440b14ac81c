//! What the cluster tests share: a NATS cluster (or the skip message),
//! `faxnotify server --cluster` processes, and a TCP relay that a client
//! connects through, so that its reconnects can be sent to another server
//! (the client takes one server address until it learns several).
#![allow(dead_code)] // each test file uses a part of this

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use faxnotify_cluster::harness::{NatsCluster, skip_unless_available};

use crate::common::TestServer;

/// A fresh 3-node NATS cluster, or `None` (and the skip message) when
/// nats-server is absent; under `FAXNOTIFY_NATS_TEST=require` that fails.
pub fn nats(test: &str) -> Option<NatsCluster> {
    if skip_unless_available(test) {
        return None;
    }
    Some(NatsCluster::start(3).unwrap_or_else(|err| panic!("{err}")))
}

/// A cluster secret file (32 bytes, mode 0600) in `dir`.
pub fn secret(dir: &Path) -> PathBuf {
    let path = dir.join("cluster.secret");
    std::fs::write(&path, [0x5a; 32]).expect("write the secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// `faxnotify server --cluster` in its own directory `dir/name` (its
/// admin socket there), with `extra` arguments.
pub fn server(
    dir: &Path,
    name: &str,
    users: &Path,
    nats: &NatsCluster,
    secret: &Path,
    extra: &[&str],
) -> TestServer {
    let own = dir.join(name);
    std::fs::create_dir_all(&own).expect("server dir");
    let urls = nats.urls().join(",");
    let mut args = vec![
        "--cluster",
        urls.as_str(),
        "--cluster-secret",
        secret.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    TestServer::start("tokio", users, &own, &args)
}

/// A TCP relay on 127.0.0.1: each connection it accepts is relayed to the
/// current target (connections already relayed stay where they are).
pub struct Relay {
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
}

impl Relay {
    pub fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let addr = listener.local_addr().expect("relay addr");
        let target = Arc::new(Mutex::new(target));
        let to = Arc::clone(&target);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let at = *to.lock().unwrap_or_else(PoisonError::into_inner);
                match TcpStream::connect(at) {
                    Ok(server) => pipe(client, server),
                    Err(_) => drop(client), // as the dead server would
                }
            }
        });
        Relay { addr, target }
    }

    /// New connections go to `target` from now on.
    pub fn point_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }
}

fn pipe(a: TcpStream, b: TcpStream) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    for (mut from, mut to) in [
        (a.try_clone().expect("clone"), b.try_clone().expect("clone")),
        (b, a),
    ] {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
}
