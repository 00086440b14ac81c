//! `faxnotify demo`.
use crate::failure::{CmdResult, Failure};
use crate::runtime::RuntimeKind;
use clap::Args as ClapArgs;
/// `faxnotify demo`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The runtime to run on.
    #[arg(long, value_enum, default_value_t)]
    runtime: RuntimeKind,
}
/// Runs the demo.
pub fn run(_args: Args) -> CmdResult {
    Err(Failure::runtime("todo"))
}
