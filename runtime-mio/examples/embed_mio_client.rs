//! A fax client inside your program, on mio: logs in to 127.0.0.1:4580 as the
//! user named on the command line (password in FAXNOTIFY_PASSWORD), takes
//! callbacks on an OS-chosen port, and prints each notification.
//!
//! `FAXNOTIFY_PASSWORD=... cargo run -p faxnotify-mio --example embed_mio_client -- alice`
use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_mio::Client;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}"); // Display: written for a person
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let user = std::env::args().nth(1).unwrap_or_else(|| "alice".into());
    let password = std::env::var("FAXNOTIFY_PASSWORD")?;
    let settings = NetworkSettings::new(ListenPolicy::Dynamic);
    let config = ClientConfig::new("127.0.0.1:4580".parse()?, &user, &password, settings);
    let client = Client::start(config)?;
    for event in client.events().iter() {
        match event {
            Event::LoggedIn { session, .. } => println!("logged in, session {session}"),
            Event::Notification { seq, notification } => println!("#{seq} {notification}"),
            Event::ConnectionLost { reason, .. } => eprintln!("{reason}; retrying"),
            Event::Stopped { reason } => {
                eprintln!("stopped: {reason}");
                break;
            }
            other => eprintln!("{other}"), // callback status (with firewall hints), ...
        }
    }
    Ok(())
}
