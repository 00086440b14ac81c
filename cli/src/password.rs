//! Where passwords come from: a terminal prompt without echo, standard
//! input, a file, or an environment variable. Never the command line
//! (other users can read a process's arguments).

use std::io::{self, BufRead as _, IsTerminal as _, Read as _};
use std::path::Path;

use faxnotify_textfile::read_bounded;

use crate::failure::Failure;

/// The most a password file or line may hold: far above any password, and
/// a bound, so that `/dev/zero` or a stream without a line end given by
/// mistake is refused instead of filling the memory.
pub const MAX_PASSWORD_BYTES: u64 = 64 * 1024;

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
    io::stdin()
        .lock()
        .take(MAX_PASSWORD_BYTES + 1)
        .read_line(&mut line)
        .map_err(|e| {
            Failure::runtime(format!("cannot read the password from standard input: {e}"))
        })?;
    if line.len() as u64 > MAX_PASSWORD_BYTES {
        return Err(Failure::usage(format!(
            "the first line of standard input is longer than {} KiB: not a password",
            MAX_PASSWORD_BYTES >> 10
        )));
    }
    if line.is_empty() {
        return Err(Failure::usage(
            "standard input is empty: pipe the password in, e.g. `printf '%s\\n' \"$PW\" | faxnotify ...`",
        ));
    }
    Ok(strip_newline(line))
}

/// Reads a password file: its whole content, less one trailing line ending.
/// A regular file of at most [`MAX_PASSWORD_BYTES`] only: a FIFO must not
/// hang the command, nor a device fill the memory.
pub fn from_file(path: &Path) -> Result<String, Failure> {
    let file = path.display();
    let bytes = read_bounded(path, MAX_PASSWORD_BYTES)
        .map_err(|e| Failure::usage(e.describe("password file", path)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("the password file {file} is not UTF-8 text")))?;
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

    #[test]
    fn a_password_file_is_a_small_regular_file_of_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("pw");
        std::fs::write(&good, "secret\n").expect("write");
        assert_eq!(from_file(&good).expect("reads"), "secret");

        let message = |path: &Path| from_file(path).expect_err("refused").to_string();
        // Reading a FIFO with no writer would wait for ever; /dev/zero
        // would fill the memory.
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        for odd in [fifo.as_path(), Path::new("/dev/zero")] {
            assert!(
                message(odd)
                    .ends_with("is not a regular file (a FIFO, a device or a directory): not read"),
                "{}",
                message(odd)
            );
        }
        let huge = dir.path().join("huge");
        std::fs::File::create(&huge)
            .and_then(|f| f.set_len(MAX_PASSWORD_BYTES + 1))
            .expect("a sparse file");
        assert!(
            message(&huge).ends_with("is larger than 64 KiB: not read"),
            "{}",
            message(&huge)
        );
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).expect("write");
        assert!(
            message(&binary).ends_with("is not UTF-8 text"),
            "{}",
            message(&binary)
        );
        assert!(
            message(&dir.path().join("nope")).ends_with("it does not exist"),
            "{}",
            message(&dir.path().join("nope"))
        );
    }
}
