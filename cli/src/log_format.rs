//! `--log-format text|json`: how log lines look on standard error.

use std::fmt;

/// The log lines' format (`--log-format`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for a person (the default).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields` with
    /// `message` and any structured fields), for a log shipper.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}
