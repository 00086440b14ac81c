//! `faxnotify conformance server|client|list`: the FNP/1 conformance suite
//! (docs/conformance.md) as a command, a thin layer over
//! `faxnotify_conformance`.

use std::fs::File;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use faxnotify_conformance::{
    self as conformance, ClientTarget, CommandTrigger, Mode, NotifyTrigger, Report, RunConfig,
    ServerTarget, Target, TreePrinter,
};
use serde_json::Value;

use faxnotify_core::client::{TlsSettingError, TlsSettings, TlsTrust};

use crate::admin::client::{call, error_of};
use crate::admin::protocol::{NotificationSpec, Request, To};
use crate::failure::{CmdResult, Exit, Failure};
use crate::tls::trust::client_tls;
use crate::{parse, password};

/// `faxnotify conformance`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Exit status: 0 when no case failed or was blocked, 1 when one did, 2 for bad arguments.
See docs/conformance.md for the cases, the placeholders and the reports.")]
pub struct Args {
    #[command(subcommand)]
    mode: ModeArgs,
}

#[derive(Debug, Subcommand)]
enum ModeArgs {
    /// Test a running server: the suite plays its clients.
    #[command(after_help = "\
To test faxnotify's own server (fast: short lease, relaxed failed-login limiter;
a lease above the suite's 5 s wait keeps a missing answer from reading as a lease expiry):
  faxnotify server --listen 127.0.0.1:4580 --users users.toml --admin-socket fx.sock \\
      --lease 10s --handshake-timeout 3s --max-failed-logins 1000 \\
      --max-failed-logins-per-address 1000
  faxnotify conformance server 127.0.0.1:4580 --user alice --password-file pw \\
      --user2 bob:'battery staple' --admin-socket fx.sock --handshake-timeout 3s
Over TLS (a server started with its certificate and key): add --tls ca:ca.pem
(or --tls pin:sha256:AB:CD:...) and, if the certificate does not name ADDR's
host, --tls-name NAME.")]
    Server(ServerArgs),
    /// Test a client program: the suite plays its server and starts the
    /// client per case from the command line after `--`.
    #[command(after_help = "\
Placeholders replaced in every argument: {addr} {host} {port} {user} {password} \
{password_file} {settings_file}. To test faxnotify's own client:
  faxnotify conformance client -- faxnotify client --server {addr} --user {user} \\
      --password-file {password_file} --settings {settings_file} --json
Over TLS: add --tls before `--`.")]
    Client(ClientArgs),
    /// Print the case catalog, or the requirement coverage.
    List(ListArgs),
}

/// Options shared by both modes.
#[derive(Debug, ClapArgs)]
struct Common {
    /// Run only this case, or a section by prefix (e.g. server/framing); repeatable.
    #[arg(long = "case", value_name = "ID")]
    cases: Vec<String>,
    /// Skip the cases that wait for protocol timers.
    #[arg(long)]
    skip_slow: bool,
    /// Go on after a case's first deviation where its next checks do not
    /// depend on it, and report every deviation of the case.
    #[arg(long)]
    keep_going: bool,
    /// Also write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write a JSON report.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Never color the tree (it is colored only on a terminal anyway).
    #[arg(long)]
    no_color: bool,
}

#[derive(Debug, ClapArgs)]
struct ServerArgs {
    /// The server's control address, host:port.
    #[arg(value_name = "ADDR")]
    addr: String,
    /// A user that exists on the server.
    #[arg(long, value_name = "NAME")]
    user: String,
    /// That user's password (prefer --password-file).
    #[arg(long, value_name = "PASS", conflicts_with = "password_file")]
    password: Option<String>,
    /// A file holding that user's password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// A second user, for the case about another user's session [C-6].
    #[arg(long, value_name = "NAME:PASS")]
    user2: Option<String>,
    /// How the suite makes the server send a notification: a command run
    /// per notification with {user} and {text} replaced, e.g.
    /// 'faxnotify notify --admin-socket fx.sock --user {user} message {text}'.
    #[arg(long, value_name = "CMD", conflicts_with = "admin_socket")]
    notify_command: Option<String>,
    /// A faxnotify server's admin socket: the suite queues its notifications
    /// through it directly (instead of --notify-command).
    #[arg(long, value_name = "PATH")]
    admin_socket: Option<PathBuf>,
    /// The server's handshake timeout [C-9], for the slow-loris cases.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    handshake_timeout: Duration,
    /// Run every case over TLS 1.3 (protocol.md section 12), trusting the
    /// server by "ca:PATH" (a PEM CA file), "pin:sha256:AB:CD:..." (its
    /// certificate's fingerprint) or "system" (the host's roots).
    #[arg(long, value_name = "TRUST")]
    tls: Option<String>,
    /// The name the server's certificate must carry (default: ADDR's host).
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_name: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, ClapArgs)]
struct ClientArgs {
    /// The user the suite's server accepts ({user}).
    #[arg(long, value_name = "NAME", default_value = "conformance")]
    user: String,
    /// Its password ({password}, {password_file}).
    #[arg(long, value_name = "PASS", default_value = "fnp1 conformance pass")]
    password: String,
    /// The client does not print deliveries under the stdout contract; the
    /// cases that read them are skipped.
    #[arg(long)]
    no_stdout_contract: bool,
    /// Serve TLS 1.3 (protocol.md section 12) with a CA and certificates the
    /// suite makes for the run; {settings_file} tells the client to trust
    /// that CA (`[tls] trust = "ca:PATH"`).
    #[arg(long)]
    tls: bool,
    #[command(flatten)]
    common: Common,
    /// The client's command line, with placeholders.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ListMode {
    Server,
    Client,
}

#[derive(Debug, ClapArgs)]
struct ListArgs {
    /// Only the cases of one mode.
    #[arg(value_enum)]
    mode: Option<ListMode>,
    /// Print which requirement ids the cases cover instead.
    #[arg(long)]
    coverage: bool,
}

/// Queues the suite's notifications through a faxnotify admin socket.
struct AdminTrigger {
    socket: PathBuf,
}

impl NotifyTrigger for AdminTrigger {
    fn notify(&self, user: &str, text: &str) -> Result<(), String> {
        let reply = call(
            &self.socket,
            &Request::Notify {
                to: To::User(user.to_owned()),
                notification: NotificationSpec::ServerMessage {
                    text: text.to_owned(),
                },
            },
        )
        .map_err(|f| f.message)?;
        if let Some((code, message)) = error_of(&reply) {
            return Err(format!("{code}: {message}"));
        }
        let count = |key: &str| reply.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        match (count("accepted"), count("refused")) {
            (0, 0) => Err(format!("{user} has no session on the server")),
            (_, 0) => Ok(()),
            (_, refused) => Err(format!("refused by {refused} session(s): {reply}")),
        }
    }

    fn describe(&self) -> String {
        format!("admin socket {}", self.socket.display())
    }
}

fn apply_common(config: &mut RunConfig, common: &Common) {
    config.selection.cases = common.cases.clone();
    config.selection.skip_slow = common.skip_slow;
    config.selection.keep_going = common.keep_going;
}

fn write_reports(report: &Report, common: &Common) -> Result<(), Failure> {
    let write = |path: &Path, f: &dyn Fn(File) -> std::io::Result<()>| {
        File::create(path)
            .and_then(f)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &common.junit {
        write(path, &|file| conformance::write_junit(report, file))?;
    }
    if let Some(path) = &common.json {
        write(path, &|file| conformance::write_json(report, file))?;
    }
    Ok(())
}

fn run_suite(config: &RunConfig, common: &Common) -> CmdResult {
    // The client under test and the notify command run in process groups
    // of their own (so that a case ends whatever they started), which the
    // terminal's Ctrl-C does not reach: end them here, or they would
    // outlive the suite.
    let installed = ctrlc::set_handler(|| {
        conformance::end_started_processes();
        eprintln!("interrupted: the processes the suite started were ended");
        std::process::exit(130);
    });
    if let Err(err) = installed {
        eprintln!(
            "warning: Ctrl-C will not end the processes the suite starts ({err}); end them yourself after an interrupted run"
        );
    }
    let color = !common.no_color && std::io::stdout().is_terminal();
    let mut printer = TreePrinter::new(std::io::stdout()).with_color(color);
    let report =
        conformance::run(config, &mut printer).map_err(|e| Failure::usage(e.to_string()))?;
    write_reports(&report, common)?;
    Ok(if report.success() {
        Exit::Ok
    } else {
        Exit::Runtime
    })
}

fn server_target(args: &ServerArgs) -> Result<ServerTarget, Failure> {
    let addr: SocketAddr = parse::host_port(&args.addr).map_err(Failure::usage)?;
    let password = match (&args.password, &args.password_file) {
        (Some(p), _) => p.clone(),
        (None, Some(path)) => password::from_file(path)?,
        (None, None) => {
            return Err(Failure::usage(
                "give the user's password with --password-file FILE (or --password)",
            ));
        }
    };
    let mut target = ServerTarget::new(addr, args.user.clone(), password);
    if let Some(second) = &args.user2 {
        let (name, pass) = second
            .split_once(':')
            .ok_or_else(|| Failure::usage("--user2 takes NAME:PASS"))?;
        target.second_user = Some((name.to_owned(), pass.to_owned()));
    }
    if let Some(command) = &args.notify_command {
        let trigger = CommandTrigger::parse(command).ok_or_else(|| {
            Failure::usage("--notify-command is empty or has an unterminated quote")
        })?;
        target.trigger = Some(Box::new(trigger));
    } else if let Some(socket) = &args.admin_socket {
        target.trigger = Some(Box::new(AdminTrigger {
            socket: socket.clone(),
        }));
    }
    if let Some(trust) = &args.tls {
        let trust: TlsTrust = trust
            .parse()
            .map_err(|e: TlsSettingError| Failure::usage(format!("--tls {trust:?}: {e}")))?;
        let mut settings = TlsSettings::new(trust);
        settings.server_name = args.tls_name.clone();
        target.tls = client_tls(&settings, &args.addr).map_err(Failure::usage)?;
        if target.tls.is_none() {
            return Err(Failure::usage(
                "--tls off: leave out --tls to test a server over plain TCP",
            ));
        }
    }
    Ok(target)
}

/// Runs `faxnotify conformance`.
pub fn run(args: Args) -> CmdResult {
    match args.mode {
        ModeArgs::Server(args) => {
            let target = server_target(&args)?;
            let mut config = RunConfig::new(Target::Server(target));
            config.timeouts.handshake = args.handshake_timeout;
            apply_common(&mut config, &args.common);
            run_suite(&config, &args.common)
        }
        ModeArgs::Client(args) => {
            let mut target = ClientTarget::new(args.command.clone());
            target.stdout_contract = !args.no_stdout_contract;
            target.user = args.user.clone();
            target.password = args.password.clone();
            target.tls = args.tls;
            let mut config = RunConfig::new(Target::Client(target));
            apply_common(&mut config, &args.common);
            run_suite(&config, &args.common)
        }
        ModeArgs::List(args) => {
            let out = std::io::stdout();
            let result = if args.coverage {
                conformance::write_coverage(out)
            } else {
                let mode = args.mode.map(|m| match m {
                    ListMode::Server => Mode::Server,
                    ListMode::Client => Mode::Client,
                });
                conformance::write_catalog(out, mode)
            };
            result.map_err(|e| Failure::runtime(format!("cannot print: {e}")))?;
            Ok(Exit::Ok)
        }
    }
}
