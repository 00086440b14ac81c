//! A fax client inside your tokio program: logs in to 127.0.0.1:4580 as the
//! user named on the command line (password in FAXNOTIFY_PASSWORD) and
//! prints each notification.
//!
//! `FAXNOTIFY_PASSWORD=... cargo run -p faxnotify-tokio --example embed_tokio_client -- alice`
use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_tokio::Client;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}"); // Display: written for a person
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let user = std::env::args().nth(1).unwrap_or_else(|| "alice".into());
    let password = std::env::var("FAXNOTIFY_PASSWORD")?;
    let settings = NetworkSettings::new(ListenPolicy::Dynamic);
    let config = ClientConfig::new("127.0.0.1:4580".parse()?, &user, &password, settings);
    let client = Client::start(config).await?;
    while let Some(event) = client.next_event().await {
        match event {
            Event::LoggedIn { session, .. } => println!("logged in, session {session}"),
            Event::Notification { seq, notification } => println!("#{seq} {notification}"),
            Event::ConnectionLost { reason, .. } => eprintln!("{reason}; retrying"),
            Event::Stopped { reason } => eprintln!("stopped: {reason}"),
            other => eprintln!("{other}"), // callback status (with firewall hints), ...
        }
    }
    Ok(())
}
