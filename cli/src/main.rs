//! The `faxnotify` command.

fn main() {
    eprintln!("faxnotify: not yet implemented");
    std::process::exit(2);
}
