//! The `faxnotify` command: run an FNP/1 fax notification server or client,
//! manage users and client settings, report fax activity to a running
//! server, watch a demo, and run the conformance suite.
//!
//! Each subcommand lives in its own module under `commands/`; the runtimes
//! (`--runtime mio|smol`) are behind `runtime`.

#[macro_use]
mod output;

mod admin;
mod bench;
mod commands;
mod failure;
mod hfaxd;
mod parse;
mod password;
mod render;
mod runtime;
mod user_store;
mod users_file;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::failure::EXIT_STATUS_HELP;

// The runtimes allocate a notification on the application's thread and free
// it on the event loop's; glibc's malloc spends about half the server's CPU on
// that traffic at high rates (docs/performance.md), mimalloc's per-thread free
// lists do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// faxnotify: FNP/1 fax notifications. Run a server or a client, manage
/// users and client settings, report fax activity, watch the demo, and run
/// the conformance suite.
#[derive(Debug, Parser)]
#[command(name = "faxnotify", version, after_help = EXIT_STATUS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a fax notification server.
    Server(commands::server::Args),
    /// Add, remove or list the server's users (the users file).
    User(commands::user::Args),
    /// Report fax activity to a running server (through its admin socket).
    Notify(commands::notify::Args),
    /// List a running server's sessions (through its admin socket).
    Sessions(commands::sessions::Args),
    /// End a session on a running server (through its admin socket).
    EndSession(commands::sessions::EndArgs),
    /// Run a fax client that prints notifications as they arrive.
    Client(commands::client::Args),
    /// Show or change the machine-wide client settings.
    Settings(commands::settings::Args),
    /// A server and several clients in one process, with simulated fax activity.
    Demo(commands::demo::Args),
    /// Turn HylaFAX's live events into notifications (a bridge from hfaxd
    /// to a running server's admin socket).
    Hylafax(commands::hylafax::Args),
    /// Run the FNP/1 conformance suite against a server or a client.
    Conformance(commands::conformance::Args),
    /// Measure throughput, latency, CPU and memory end to end on loopback,
    /// against a raw-socket baseline (docs/performance.md).
    Bench(bench::Args),
}

/// Logs go to standard error, filtered by `RUST_LOG` (default: `level`).
fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(match cli.command {
        Commands::Demo(_) | Commands::Conformance(_) | Commands::Bench(_) => "warn",
        _ => "info",
    });
    let result = match cli.command {
        Commands::Server(args) => commands::server::run(args),
        Commands::User(args) => commands::user::run(args),
        Commands::Notify(args) => commands::notify::run(args),
        Commands::Sessions(args) => commands::sessions::run(args),
        Commands::EndSession(args) => commands::sessions::run_end(args),
        Commands::Client(args) => commands::client::run(args),
        Commands::Settings(args) => commands::settings::run(args),
        Commands::Demo(args) => commands::demo::run(args),
        Commands::Hylafax(args) => commands::hylafax::run(args),
        Commands::Conformance(args) => commands::conformance::run(args),
        Commands::Bench(args) => bench::run(args),
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(failure) => {
            eprintln!("faxnotify: {failure}");
            failure.exit
        }
    };
    ExitCode::from(u8::try_from(exit.code()).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;
    use crate::failure::Exit;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_statuses_are_documented() {
        for exit in [
            Exit::Ok,
            Exit::Runtime,
            Exit::Usage,
            Exit::Auth,
            Exit::PortConflict,
            Exit::Lost,
            Exit::NotQueued,
        ] {
            assert!(
                EXIT_STATUS_HELP.contains(&format!("\n  {}  ", exit.code())),
                "{exit:?}"
            );
        }
    }
}
