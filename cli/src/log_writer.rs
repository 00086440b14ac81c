//! A log writer that never blocks the thread that logs.
//!
//! A server's log goes to standard error, and whoever reads that (a pager,
//! a terminal on Ctrl-S, a stuck log shipper) can stop reading. A thread
//! that writes there directly then blocks, and if it is the thread that
//! drains the runtime's events, the runtime stops reading the network
//! (issue 17, case 2). So log lines go into a bounded queue
//! ([`CAPACITY`] bytes) that a writer thread of its own empties; when the
//! queue is full, lines are dropped and counted, and once the output takes
//! lines again the writer reports how many were lost ("log output stalled:
//! 1 234 lines dropped").

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// The queue's size: about 5 000 lines of ordinary length.
pub const CAPACITY: usize = 1024 * 1024;

/// How long the process waits at exit for the queued lines to be written
/// (a stalled output must not keep a stopped server alive).
pub const FLUSH_AT_EXIT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Lines dropped since the last report.
    dropped: u64,
    /// The guard was dropped: write what is queued, then end.
    closed: bool,
    /// The writer thread has written everything and ended.
    done: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a line is queued, when the queue closes and when the
    /// writer is done.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line`, or counts it as dropped when the queue is full.
    fn push(&self, line: Vec<u8>) {
        let mut queue = self.lock();
        if queue.bytes + line.len() > CAPACITY {
            queue.dropped += 1;
            return;
        }
        queue.bytes += line.len();
        queue.lines.push_back(line);
        drop(queue);
        self.changed.notify_all();
    }
}

/// The subscriber's writer: hands each formatted event to the queue.
#[derive(Clone, Debug)]
pub struct NonBlocking {
    shared: Arc<Shared>,
}

/// Keeps the writer thread; dropping it writes what is queued (waiting at
/// most [`FLUSH_AT_EXIT`]) and ends the thread.
#[derive(Debug)]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a writer thread writing to `sink`. Once `sink` takes lines again
/// after some were dropped, `report` gets their number; what it returns is
/// written as is (it may instead log through the queue and return nothing:
/// lines are taken until the writer is done, even after the guard dropped).
pub fn spawn<W>(sink: W, report: fn(u64) -> Vec<u8>) -> io::Result<(NonBlocking, FlushGuard)>
where
    W: Write + Send + 'static,
{
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("faxnotify-log".into())
            .spawn(move || write_loop(&shared, sink, report))?
    };
    Ok((
        NonBlocking {
            shared: Arc::clone(&shared),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_loop<W: Write>(shared: &Shared, mut sink: W, report: fn(u64) -> Vec<u8>) {
    loop {
        let (line, closed) = {
            let mut queue = shared.lock();
            while queue.lines.is_empty() && !queue.closed {
                queue = shared
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let line = queue.lines.pop_front();
            if let Some(line) = &line {
                queue.bytes -= line.len();
            }
            (line, queue.closed)
        };
        let Some(line) = line else {
            debug_assert!(closed);
            break;
        };
        // An output that fails (closed pipe, full disk) loses the line;
        // there is nowhere else to say so.
        if sink.write_all(&line).and_then(|()| sink.flush()).is_ok() {
            // The output takes lines again: say what it missed.
            let dropped = std::mem::take(&mut shared.lock().dropped);
            if dropped > 0 {
                let _ = sink.write_all(&report(dropped)).and_then(|()| sink.flush());
            }
        }
    }
    shared.lock().done = true;
    shared.changed.notify_all();
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.closed = true;
        self.shared.changed.notify_all();
        let deadline = Instant::now() + FLUSH_AT_EXIT;
        while !queue.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // The output is stalled: leave the thread blocked in its
                // write; the process is ending.
                return;
            }
            queue = self
                .shared
                .changed
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(queue);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's bytes, queued whole when the subscriber is done with it.
#[derive(Debug)]
pub struct Line {
    shared: Arc<Shared>,
    buf: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.shared.push(std::mem::take(&mut self.buf));
        }
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            shared: Arc::clone(&self.shared),
            buf: Vec::new(),
        }
    }
}

/// `1234567` as `1 234 567`, for counts a person reads.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// An output that blocks until the test opens it, then collects lines.
    struct Gate {
        open: mpsc::Receiver<()>,
        opened: bool,
        out: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !self.opened {
                let _ = self.open.recv();
                self.opened = true;
            }
            self.out.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn report(n: u64) -> Vec<u8> {
        format!("dropped {n}\n").into_bytes()
    }

    fn log(writer: &NonBlocking, text: &str) {
        writer.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_stalled_output_drops_and_counts_lines_and_then_says_so() {
        let (open, gate) = mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let (writer, guard) = spawn(
            Gate {
                open: gate,
                opened: false,
                out: Arc::clone(&out),
            },
            report,
        )
        .unwrap();
        // The writer takes the first line and blocks in the output; then
        // the queue fills: logging goes on without blocking.
        let line = format!("{}\n", "x".repeat(1023));
        let lines = 3 * CAPACITY / line.len();
        for _ in 0..lines {
            log(&writer, &line);
        }
        let queued_at_most = CAPACITY / line.len() + 1;
        log(&writer, "last\n");
        open.send(()).unwrap();
        drop(guard);
        let out = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let written = out.lines().filter(|l| l.starts_with('x')).count();
        assert!(written <= queued_at_most, "{written} > {queued_at_most}");
        let dropped: usize = out
            .lines()
            .filter_map(|l| l.strip_prefix("dropped "))
            .map(|n| n.parse::<usize>().unwrap())
            .sum();
        // Every line is either written or counted, and "last" (logged
        // after the drops) came out only if it fit.
        let last = usize::from(out.contains("last\n"));
        assert_eq!(written + last + dropped, lines + 1, "{out}");
        assert!(dropped >= lines - queued_at_most, "{dropped}");
    }

    #[test]
    fn a_flowing_output_gets_every_line_in_order() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = mpsc::channel();
        open.send(()).unwrap();
        let (writer, guard) = spawn(
            Gate {
                open: gate,
                opened: false,
                out: Arc::clone(&out),
            },
            report,
        )
        .unwrap();
        for i in 0..1000 {
            log(&writer, &format!("{i}\n"));
        }
        drop(guard);
        let out = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("{i}\n")).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn exit_does_not_wait_forever_for_a_stalled_output() {
        let (_open, gate) = mpsc::channel::<()>();
        let (writer, guard) = spawn(
            Gate {
                open: gate,
                opened: false,
                out: Arc::default(),
            },
            report,
        )
        .unwrap();
        log(&writer, "stuck\n");
        let started = Instant::now();
        drop(guard);
        assert!(started.elapsed() < FLUSH_AT_EXIT * 10);
    }

    #[test]
    fn counts_are_grouped_for_reading() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1234), "1 234");
        assert_eq!(grouped(553_000), "553 000");
        assert_eq!(grouped(1_234_567), "1 234 567");
    }
}
