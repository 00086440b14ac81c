//! Where passwords come from: a terminal prompt without echo, standard
//! input, a file, or an environment variable. Never the command line
//! (other users can read a process's arguments).

use std::io::{self, BufRead as _, IsTerminal as _};
use std::path::Path;

use crate::failure::Failure;

/// The environment variable `faxnotify client` reads the password from.
pub const PASSWORD_ENV: &str = "FAXNOTIFY_PASSWORD";

/// Removes one trailing line ending (files written with `echo` have one).
fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Reads one line of standard input (`--password-stdin`).
pub fn from_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::runtime(format!("cannot read the password from standard input: {e}"))
    })?;
    if line.is_empty() {
        return Err(Failure::usage(
            "standard input is empty: pipe the password in, e.g. `printf '%s\\n' \"$PW\" | faxnotify ...`",
        ));
    }
    Ok(strip_newline(line))
}

/// Reads a password file: its whole content, less one trailing line ending.
pub fn from_file(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?;
    Ok(strip_newline(text))
}

/// Prompts on the terminal without echo. With `confirm`, asks twice and
/// insists that both match.
pub fn prompt(prompt: &str, confirm: bool) -> Result<String, Failure> {
    if !io::stdin().is_terminal() {
        return Err(Failure::usage(
            "no terminal to prompt for the password on: pipe it in with --password-stdin",
        ));
    }
    let read = |text: &str| {
        rpassword::prompt_password(text)
            .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))
    };
    let first = read(prompt)?;
    if confirm && read("Repeat the password: ")? != first {
        return Err(Failure::usage(
            "the two passwords differ; nothing was changed",
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_ending_is_removed() {
        assert_eq!(strip_newline("pw\n".into()), "pw");
        assert_eq!(strip_newline("pw\r\n".into()), "pw");
        assert_eq!(strip_newline("pw".into()), "pw");
        assert_eq!(strip_newline("pw\n\n".into()), "pw\n");
    }
}
