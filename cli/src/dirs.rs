//! Directories the commands create for files other users read (the
//! client settings, the server's certificate).

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0755 (Unix): others may
/// read in them, only their user may write, whatever the umask of whoever
/// runs the command. Under umask 000 (a cron job, a container's entry
/// point) they would otherwise be 0777, and anyone on the host could
/// rename their own file over the host's client settings, or over the
/// server's certificate and key. A stricter umask still applies.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o755);
    }
    builder.create(dir)
}
