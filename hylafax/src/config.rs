//! The bridge's configuration file (TOML): where hfaxd is, and who gets what.
//!
//! ```toml
//! hfaxd = "127.0.0.1:4559"        # hfaxd's client-server protocol
//! user = "faxnotify"              # the hfaxd login (hosts.hfaxd must let it in)
//! admin_socket = "/run/faxnotify/admin.sock"
//! unrouted = ["frontdesk"]        # who gets received faxes no route matches
//! callid_number = 1               # which CallIDPattern value is the caller's number
//! callid_did = 4                  # ... and which is the number called (DID)
//!
//! [route]                         # DID or sub-address -> users
//! "5550001" = ["alice", "bob"]
//!
//! [owners]                        # HylaFAX job owner -> faxnotify user
//! root = "alice"                  # owners not listed keep their name
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// The parsed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// hfaxd's address, `HOST:PORT`.
    pub hfaxd: String,
    /// The user name the bridge logs in to hfaxd as.
    pub user: String,
    /// The faxnotify server's admin socket.
    pub admin_socket: Option<String>,
    /// Routing and owner mapping.
    pub routing: Routing,
}

/// The file as written (serde cannot refuse unknown keys through `flatten`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    hfaxd: String,
    #[serde(default = "default_user")]
    user: String,
    admin_socket: Option<String>,
    #[serde(default)]
    route: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    unrouted: Vec<String>,
    #[serde(default)]
    owners: BTreeMap<String, String>,
    #[serde(default = "default_callid_number")]
    callid_number: usize,
    #[serde(default = "default_callid_did")]
    callid_did: usize,
}

fn default_user() -> String {
    "faxnotify".to_owned()
}

/// Who gets which notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    /// Received faxes: called number (DID) or sub-address → users.
    pub route: BTreeMap<String, Vec<String>>,
    /// The group that gets received faxes no route matches.
    pub unrouted: Vec<String>,
    /// HylaFAX job owner → faxnotify user (owners not listed keep their name).
    pub owners: BTreeMap<String, String>,
    /// Which caller-id value (1-based, in the modem's `CallIDPattern` order)
    /// is the caller's number.
    pub callid_number: usize,
    /// Which caller-id value is the number called (DID); 0 for none.
    pub callid_did: usize,
}

impl Default for Routing {
    /// No routes, nobody unrouted, owners keep their names, HylaFAX's
    /// example `CallIDPattern` order.
    fn default() -> Self {
        Routing {
            route: BTreeMap::new(),
            unrouted: Vec::new(),
            owners: BTreeMap::new(),
            callid_number: default_callid_number(),
            callid_did: default_callid_did(),
        }
    }
}

fn default_callid_number() -> usize {
    1
}

/// HylaFAX's example modem configs list `NMBR`, `NAME`, `ANID`, `NDID`.
fn default_callid_did() -> usize {
    4
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not TOML, or keys that are not known or have the wrong type.
    #[error("{0}")]
    Syntax(#[from] toml::de::Error),
    /// An empty user name in `route`, `unrouted` or `owners`.
    #[error("an empty user name in {0}")]
    EmptyUser(&'static str),
    /// `callid_number` is 0.
    #[error("callid_number counts from 1 (the first CallIDPattern value)")]
    CallIdNumberZero,
}

impl Config {
    /// Parses and checks a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text)?;
        let config = Config {
            hfaxd: file.hfaxd,
            user: file.user,
            admin_socket: file.admin_socket,
            routing: Routing {
                route: file.route,
                unrouted: file.unrouted,
                owners: file.owners,
                callid_number: file.callid_number,
                callid_did: file.callid_did,
            },
        };
        config.routing.check()?;
        Ok(config)
    }
}

impl Routing {
    /// Checks the tables.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.route.values().flatten().any(String::is_empty) {
            return Err(ConfigError::EmptyUser("route"));
        }
        if self.unrouted.iter().any(String::is_empty) {
            return Err(ConfigError::EmptyUser("unrouted"));
        }
        if self.owners.values().any(String::is_empty) {
            return Err(ConfigError::EmptyUser("owners"));
        }
        if self.callid_number == 0 {
            return Err(ConfigError::CallIdNumberZero);
        }
        Ok(())
    }

    /// The users a received fax for `did` or `subaddress` goes to: every
    /// route that matches either, else the unrouted group.
    pub fn recipients_of_fax(&self, did: &str, subaddress: &str) -> Vec<String> {
        let mut users: Vec<String> = [did, subaddress]
            .into_iter()
            .filter(|key| !key.is_empty())
            .filter_map(|key| self.route.get(key))
            .flatten()
            .cloned()
            .collect();
        if users.is_empty() {
            users = self.unrouted.clone();
        }
        users.sort();
        users.dedup();
        users
    }

    /// The faxnotify user of a HylaFAX job owner.
    pub fn user_of_owner(&self, owner: &str) -> String {
        self.owners
            .get(owner)
            .cloned()
            .unwrap_or_else(|| owner.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
hfaxd = "127.0.0.1:4559"
user = "fax"
admin_socket = "/tmp/a.sock"
unrouted = ["frontdesk"]

[route]
"5550001" = ["alice", "bob"]
"sales" = ["carol", "alice"]

[owners]
root = "alice"
"#;

    #[test]
    fn routes_by_did_or_subaddress_else_unrouted() {
        let config = Config::from_toml(EXAMPLE).unwrap();
        assert_eq!(config.user, "fax");
        let r = &config.routing;
        assert_eq!(r.recipients_of_fax("5550001", ""), vec!["alice", "bob"]);
        assert_eq!(
            r.recipients_of_fax("5550001", "sales"),
            vec!["alice", "bob", "carol"]
        );
        assert_eq!(r.recipients_of_fax("5559999", ""), vec!["frontdesk"]);
        assert_eq!(r.user_of_owner("root"), "alice");
        assert_eq!(r.user_of_owner("dave"), "dave");
        assert_eq!((r.callid_number, r.callid_did), (1, 4));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let err = Config::from_toml("hfaxd = \"x:1\"\nrouted = []").unwrap_err();
        assert!(err.to_string().contains("routed"), "{err}");
        let err = Config::from_toml("hfaxd = \"x:1\"\nunrouted = [\"\"]").unwrap_err();
        assert_eq!(err.to_string(), "an empty user name in unrouted");
        let err = Config::from_toml("hfaxd = \"x:1\"\ncallid_number = 0").unwrap_err();
        assert!(matches!(err, ConfigError::CallIdNumberZero));
    }
}
