//! A fax server inside your program, on mio: serves the users of a users file
//! (`faxnotify user add --users users.toml alice`) on 127.0.0.1:4580 and sends
//! each line typed on stdin to everyone logged in. End the input to stop.
//!
//! `cargo run -p faxnotify-mio --example embed_mio_server -- users.toml`
use faxnotify_core::server::{ServerConfig, Target};
use faxnotify_core::wire::{Notification, ServerMessage};
use faxnotify_mio::Server;
use faxnotify_users::UsersFile;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}"); // Display: written for a person
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "users.toml".into());
    let users = UsersFile::load(path.as_ref())?;
    // The file's secret keeps unknown users' fake challenges stable.
    let server = Server::builder(ServerConfig::new(users.secret()), users.to_store())
        .listen("127.0.0.1:4580".parse()?)
        .start()?;
    let handle = server.handle();
    std::thread::spawn(move || {
        for text in std::io::stdin().lines().map_while(Result::ok) {
            let message = Notification::ServerMessage(ServerMessage { text: text.into() });
            match handle.notify(Target::All, &message) {
                Ok(report) => eprintln!("queued for {} session(s)", report.accepted.len()),
                Err(e) => eprintln!("not queued: {e}"),
            }
        }
        let _ = handle.shutdown(); // BYE to every session; the events end
    });
    server.events().iter().for_each(|event| println!("{event}"));
    Ok(())
}
