//! The `faxnotify` command: run an FNP/1 fax notification server or client,
//! manage users and client settings, report fax activity to a running
//! server, watch a demo, and run the conformance suite.
//!
//! Each subcommand lives in its own module under `commands/`; the runtimes
//! (`--runtime mio|smol|tokio`) are behind `runtime`.

#![forbid(unsafe_code)]

#[macro_use]
mod output;

mod admin;
mod bench;
mod commands;
mod descriptors;
mod dirs;
mod escape;
mod event_log;
mod failure;
mod file_trust;
mod hfaxd;
mod huge_pages;
mod log_format;
mod log_writer;
mod metrics;
mod parse;
mod password;
mod render;
mod runtime;
mod server_list;
mod socket_owner;
mod strangers;
mod systemd;
mod tls;
mod user_store;
mod users_file;
mod users_reload;

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
    /// How log lines on standard error look: text for a person, or JSON
    /// lines (timestamp, level, fields.message) for a log shipper.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "FORMAT",
        display_order = 1000
    )]
    log_format: log_format::LogFormat,
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
    /// List a running server's sessions (through its admin socket; in
    /// cluster mode, the sessions that server holds).
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
    /// Make a self-signed server certificate; show a certificate's fingerprint.
    Tls(commands::tls::Args),
    /// Measure throughput, latency, CPU and memory end to end on loopback,
    /// against a raw-socket baseline (docs/performance.md).
    Bench(bench::Args),
}

/// Logs go to standard error, filtered by `RUST_LOG` (default: `level`,
/// and warnings of the NATS client: its own info lines, "event: connected"
/// and "connected successfully server=4222" with a bare port, repeat the
/// cluster bus's lines in other words), through a queue that never blocks
/// the thread that logs (`log_writer`); the guard writes what is queued
/// when the command ends.
fn init_logging(level: &str, format: log_format::LogFormat) -> Option<log_writer::FlushGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},async_nats=warn")));
    let (writer, guard) = match log_writer::spawn(std::io::stderr(), report_dropped) {
        Ok((writer, guard)) => (writer, guard),
        Err(e) => {
            eprintln!("faxnotify: cannot start the log writer ({e}); logging is off");
            return None;
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let _ = match format {
        log_format::LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        log_format::LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    Some(guard)
}

/// The log writer's report once standard error takes lines again: a log
/// line like any other (it goes through the same queue).
fn report_dropped(dropped: u64) -> Vec<u8> {
    tracing::warn!(
        "log output stalled: {} lines dropped",
        log_writer::grouped(dropped)
    );
    Vec::new()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logging = init_logging(
        match cli.command {
            Commands::Demo(_) | Commands::Conformance(_) | Commands::Bench(_) => "warn",
            _ => "info",
        },
        cli.log_format,
    );
    huge_pages::opt_out();
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
        Commands::Tls(args) => commands::tls::run(args),
        Commands::Bench(args) => bench::run(args),
    };
    // Queued log lines come out before the failure's sentence.
    drop(logging);
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
            Exit::Undelivered,
            Exit::WaitTimedOut,
            Exit::Tls,
        ] {
            assert!(
                EXIT_STATUS_HELP.contains(&format!("\n  {}  ", exit.code())),
                "{exit:?}"
            );
        }
    }
}
