//! Standard output that never panics: a closed pipe (`faxnotify ... | head`)
//! or a full disk must not crash a server or a client.

use std::fmt;
use std::io::Write as _;

/// Writes one line to standard output and flushes it, ignoring errors.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// `println!` without the panic on a closed standard output.
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
