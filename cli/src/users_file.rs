//! The users file. Its format and its safe loading and saving live in the
//! faxnotify-users library, so that an application embedding a server reads
//! the same file as `faxnotify server`; the command uses it from here.

pub use faxnotify_users::{UsersFile, UsersFileError, parse_role, read_text, too_open};
