//! The servers `faxnotify client` dials: the `host:port` values the user
//! gave, each resolved to every address it names, in one address family
//! (the client core fails over between them, [D-17]).

use std::net::SocketAddr;

use crate::parse;

/// One address and the value it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    addr: SocketAddr,
    given: String,
}

/// The resolved servers, in order, each address once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerList {
    /// Not empty.
    entries: Vec<Entry>,
}

impl ServerList {
    /// Resolves each `host:port` (a name may give several addresses).
    pub fn resolve(given: &[String]) -> Result<Self, String> {
        let mut resolved = Vec::with_capacity(given.len());
        for text in given {
            resolved.push((text.clone(), parse::host_port_all(text)?));
        }
        Self::from_resolved(resolved)
    }

    /// The list from values already resolved. The family is the first
    /// address's: one callback listener serves every server [C-1], so other
    /// addresses of a name are left out, and a value with none of that
    /// family is an error.
    fn from_resolved(resolved: Vec<(String, Vec<SocketAddr>)>) -> Result<Self, String> {
        let is_v4 = |a: &SocketAddr| a.ip().to_canonical().is_ipv4();
        let family_name = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
        let Some((first_given, first)) = resolved
            .first()
            .and_then(|(given, addrs)| Some((given.clone(), *addrs.first()?)))
        else {
            return Err("no server: give --server HOST:PORT".to_owned());
        };
        let v4 = is_v4(&first);
        let mut entries: Vec<Entry> = Vec::new();
        for (given, addrs) in resolved {
            let mut kept = addrs.iter().filter(|a| is_v4(a) == v4).peekable();
            if kept.peek().is_none() {
                return Err(format!(
                    "server {given} has no {} address, but {first_given} is {}: the callback \
                     listener takes one address family, so list servers of one family",
                    family_name(v4),
                    family_name(v4),
                ));
            }
            for &addr in kept {
                if !entries.iter().any(|e| e.addr == addr) {
                    entries.push(Entry {
                        addr,
                        given: given.clone(),
                    });
                }
            }
        }
        Ok(Self { entries })
    }

    /// The addresses, in the order the client tries them.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.entries.iter().map(|e| e.addr).collect()
    }

    /// The values the user gave, each once, in order.
    pub fn given(&self) -> Vec<&str> {
        let mut given: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !given.contains(&e.given.as_str()) {
                given.push(&e.given);
            }
        }
        given
    }

    /// `addr` for a person: the name the user gave with the address it
    /// resolved to, or the address alone when that is what the user gave.
    pub fn describe(&self, addr: SocketAddr) -> String {
        match self.entries.iter().find(|e| e.addr == addr) {
            Some(e) if e.given.parse::<SocketAddr>() != Ok(addr) => {
                format!("{} ({addr})", e.given)
            }
            _ => addr.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn list(items: &[(&str, &[&str])]) -> Result<ServerList, String> {
        ServerList::from_resolved(
            items
                .iter()
                .map(|(given, addrs)| (given.to_string(), addrs.iter().map(|t| a(t)).collect()))
                .collect(),
        )
    }

    #[test]
    fn a_name_gives_all_its_addresses_in_order() {
        let l = list(&[
            (
                "fax.example:4580",
                &["192.0.2.1:4580", "192.0.2.2:4580", "[2001:db8::1]:4580"],
            ),
            ("192.0.2.9:4580", &["192.0.2.9:4580"]),
            // Already listed by the name: once only.
            ("192.0.2.2:4580", &["192.0.2.2:4580"]),
        ])
        .unwrap();
        assert_eq!(
            l.addrs(),
            [
                a("192.0.2.1:4580"),
                a("192.0.2.2:4580"),
                a("192.0.2.9:4580")
            ]
        );
        assert_eq!(l.given(), ["fax.example:4580", "192.0.2.9:4580"]);
        assert_eq!(
            l.describe(a("192.0.2.2:4580")),
            "fax.example:4580 (192.0.2.2:4580)"
        );
        assert_eq!(l.describe(a("192.0.2.9:4580")), "192.0.2.9:4580");
    }

    #[test]
    fn one_family_or_a_sentence_saying_why() {
        let err = list(&[
            ("192.0.2.1:4580", &["192.0.2.1:4580"]),
            ("[2001:db8::1]:4580", &["[2001:db8::1]:4580"]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            "server [2001:db8::1]:4580 has no IPv4 address, but 192.0.2.1:4580 is IPv4: the \
             callback listener takes one address family, so list servers of one family"
        );
        assert!(list(&[]).is_err());
    }

    #[test]
    fn literals_resolve_to_themselves() {
        let l = ServerList::resolve(&["127.0.0.1:4580".into(), "127.0.0.2:4581".into()]).unwrap();
        assert_eq!(l.addrs(), [a("127.0.0.1:4580"), a("127.0.0.2:4581")]);
        let err = ServerList::resolve(&["fax.example".into()]).unwrap_err();
        assert!(err.contains("is not host:port"), "{err}");
    }
}
