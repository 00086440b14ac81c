//! The process opts out of transparent huge pages.
//!
//! A server holds thousands of small sessions; with huge pages every 2 MiB
//! region the allocator touches becomes resident in full, which measured
//! 16 of the 26 MiB a fresh server held (docs/performance.md, "Memory per
//! session"). The allocator is built without its own huge-page advice
//! (`mimalloc`'s `no_thp`), but a host whose kernel setting is `always`
//! gives huge pages to every large anonymous mapping anyway; this covers
//! that host too.

/// Asks the kernel not to back this process's memory with transparent
/// huge pages. Best effort: a kernel without the setting (or another
/// system) changes nothing, and nothing else depends on it.
pub fn opt_out() {
    #[cfg(target_os = "linux")]
    if let Err(err) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(%err, "cannot opt out of transparent huge pages");
    }
}
