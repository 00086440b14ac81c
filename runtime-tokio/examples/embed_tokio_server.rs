//! A fax server inside your tokio program: serves the users of a users file
//! (`faxnotify user add --users users.toml alice`) on 127.0.0.1:4580,
//! prints what happens, and greets every new session.
//!
//! `cargo run -p faxnotify-tokio --example embed_tokio_server -- users.toml`
use faxnotify_core::server::{Event, ServerConfig, Target};
use faxnotify_core::wire::{Notification, ServerMessage};
use faxnotify_tokio::Server;
use faxnotify_users::UsersFile;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}"); // Display: written for a person
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "users.toml".into());
    let users = UsersFile::load(path.as_ref())?;
    let config = ServerConfig::new(users.secret()); // stable fake challenges
    let (server, events) =
        Server::bind("127.0.0.1:4580".parse()?, config, users.to_store()).await?;
    while let Some(event) = events.next().await {
        println!("{event}");
        if let Event::SessionOpened { session, .. } = event {
            let text = "welcome: your fax notifications arrive here".into();
            let message = Notification::ServerMessage(ServerMessage { text });
            server.notify(Target::Session(session), message).await?;
        }
    }
    Ok(())
}
