//! `faxnotify user add|remove|list`: manage the server's users file.
//!
//! Passwords come from a prompt without echo or from standard input
//! (`--password-stdin`), never from the command line. The file keeps only
//! SCRAM credentials (salt, iterations, StoredKey, ServerKey) and roles.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

use crate::failure::{CmdResult, Exit, Failure};
use crate::password;
use crate::users_file::{UsersFile, UsersFileError, parse_role};

/// `faxnotify user`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
A running server reads the users file again within seconds of a change: \
new users can log in at once; live sessions are not affected.")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Add a user (creates the file, with the server's secret, if needed).
    Add {
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// The user name (stored prepared: RFC 8265, lower case).
        name: String,
        /// `user` or `admin`.
        #[arg(long, default_value = "user", value_parser = parse_role)]
        role: faxnotify_core::wire::Role,
        /// Read the password from the first line of standard input instead
        /// of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Replace the password (and role) of an existing user.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a user. Its live sessions go on until they end.
    Remove {
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// The user name.
        name: String,
    },
    /// List the users and their roles.
    List {
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
}

/// A users file that cannot be read or written is a bad file (exit 2),
/// as `--help` documents; only the system's random source failing is a
/// runtime failure.
fn file_failure(e: UsersFileError) -> Failure {
    match e {
        UsersFileError::Random(_) => Failure::runtime(e.to_string()),
        _ => Failure::usage(e.to_string()),
    }
}

/// Runs `faxnotify user`.
pub fn run(args: Args) -> CmdResult {
    match args.action {
        Action::Add {
            users,
            name,
            role,
            password_stdin,
            replace,
        } => {
            let password = if password_stdin {
                password::from_stdin()?
            } else {
                password::prompt(&format!("Password for {name}: "), true)?
            };
            let result = UsersFile::edit(&users, |file, created| {
                file.add(&name, &password, role, replace)
                    .map(|prepared| (prepared, created))
            })
            .map_err(file_failure)?;
            let (prepared, created) = result.map_err(|e| Failure::usage(e.to_string()))?;
            if created {
                outln!(
                    "created {} (mode 0600) with a new server secret",
                    users.display()
                );
            }
            let verb = if replace { "saved" } else { "added" };
            outln!("{verb} user {prepared:?} ({})", role.name());
            Ok(Exit::Ok)
        }
        Action::Remove { users, name } => {
            if !users.exists() {
                return Err(file_failure(UsersFileError::Missing(users)));
            }
            let result = UsersFile::edit(&users, |file, _| {
                file.remove(&name).ok_or_else(|| {
                    Failure::usage(format!("no user {name:?} in {}", users.display()))
                })
            })
            .map_err(file_failure)?;
            let prepared = result?;
            outln!("removed user {prepared:?}; its live sessions go on until they end");
            Ok(Exit::Ok)
        }
        Action::List { users } => {
            let file = UsersFile::load(&users).map_err(file_failure)?;
            if file.is_empty() {
                outln!("no users in {}", users.display());
            }
            for (name, credentials) in file.users() {
                outln!(
                    "{name}\t{}\t{} iterations",
                    credentials.role().name(),
                    credentials.iterations()
                );
            }
            Ok(Exit::Ok)
        }
    }
}
