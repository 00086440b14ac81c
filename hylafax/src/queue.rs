//! HylaFAX's queue state, as hfaxd lists it: `JOBFMT` [`JOB_FORMAT`], then
//! `LIST sendq` and `LIST doneq` (what `faxstat -s -d` shows). This is where
//! HylaFAX states a job's owner, page total and outcome correctly; the
//! trigger stream's "send done" (126) follows failed attempts too.

use crate::event::find;
use crate::text::{MAX_DETAIL, MAX_USER, clean};

/// The `JOBFMT` the bridge sets before listing the queues: job id, state
/// letter, owner, pages `sent:total`, tries `done:max`, time to send (Unix
/// seconds), status (last, since it is free text and may hold `|`).
pub const JOB_FORMAT: &str = "%j|%a|%o|%P|%T|%Z|%s";

/// A job's state letter (`%a`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueState {
    /// `T`: suspended (not being scheduled).
    Suspended,
    /// `P`: pending (waiting for its time to send).
    Pending,
    /// `S`: sleeping (waiting for its next try).
    Sleeping,
    /// `B`: blocked by another job.
    Blocked,
    /// `W`: waiting for a modem.
    Waiting,
    /// `R`: being sent.
    Running,
    /// `D`: done (sent).
    Done,
    /// `F`: failed (gave up, or removed).
    Failed,
    /// Anything else (`?`).
    Unknown,
}

impl QueueState {
    fn from_letter(letter: &str) -> QueueState {
        match letter {
            "T" => QueueState::Suspended,
            "P" => QueueState::Pending,
            "S" => QueueState::Sleeping,
            "B" => QueueState::Blocked,
            "W" => QueueState::Waiting,
            "R" => QueueState::Running,
            "D" => QueueState::Done,
            "F" => QueueState::Failed,
            _ => QueueState::Unknown,
        }
    }

    /// Whether the job is finished (done or failed).
    pub fn is_final(self) -> bool {
        matches!(self, QueueState::Done | QueueState::Failed)
    }
}

/// One job as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The job id.
    pub id: u64,
    /// Its state.
    pub state: QueueState,
    /// Its owner (HylaFAX's user name, cleaned).
    pub owner: String,
    /// Pages sent.
    pub pages_sent: u16,
    /// Pages in all.
    pub pages_total: u16,
    /// Attempts made so far.
    pub tries: u16,
    /// When the next try is due (Unix seconds), 0 when unknown.
    pub next_try: u64,
    /// HylaFAX's status text: the reason of a failure or retry (cleaned).
    pub status: String,
}

/// Why a listed line is not a job record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer fields than [`JOB_FORMAT`] has.
    #[error("a queue line with {found} of the 7 fields of the job format")]
    MissingFields {
        /// How many there were.
        found: usize,
    },
    /// The job id is not a number.
    #[error("a queue line whose job id is not a number")]
    BadJobId,
}

impl JobRecord {
    /// Parses one line of `LIST sendq`/`LIST doneq` under [`JOB_FORMAT`].
    pub fn parse(line: &[u8]) -> Result<JobRecord, RecordError> {
        let mut fields = Vec::with_capacity(7);
        let mut rest = line;
        while fields.len() < 6 {
            let Some(at) = find(rest, b"|") else { break };
            fields.push(&rest[..at]);
            rest = &rest[at + 1..];
        }
        fields.push(rest);
        if fields.len() < 7 {
            return Err(RecordError::MissingFields {
                found: fields.len(),
            });
        }
        let text = |i: usize| String::from_utf8_lossy(fields[i].trim_ascii()).into_owned();
        let id = text(0).parse::<u64>().map_err(|_| RecordError::BadJobId)?;
        let pair = |i: usize| -> (u16, u16) {
            let t = text(i);
            let (a, b) = t.split_once(':').unwrap_or((&t, ""));
            (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
        };
        let (pages_sent, pages_total) = pair(3);
        let (tries, _) = pair(4);
        Ok(JobRecord {
            id,
            state: QueueState::from_letter(&text(1)),
            owner: clean(fields[2], MAX_USER),
            pages_sent,
            pages_total,
            tries,
            next_try: text(5).parse().unwrap_or(0),
            status: clean(fields[6], MAX_DETAIL),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doneq_lines_as_hfaxd_lists_them() {
        let done = JobRecord::parse(b"1|D|root| 2:2 | 1:3 |1796525005|").unwrap();
        assert_eq!(
            done,
            JobRecord {
                id: 1,
                state: QueueState::Done,
                owner: "root".into(),
                pages_sent: 2,
                pages_total: 2,
                tries: 1,
                next_try: 1_796_525_005,
                status: String::new(),
            }
        );
        let failed = JobRecord::parse(
            b"2|F|root| 0:2 | 0:3 |1796525086|Unknown problem; too many attempts to dial",
        )
        .unwrap();
        assert_eq!(failed.state, QueueState::Failed);
        assert!(failed.state.is_final());
        assert_eq!(failed.status, "Unknown problem; too many attempts to dial");
    }

    #[test]
    fn status_keeps_bars_and_is_cleaned() {
        let r = JobRecord::parse(b"7|S|bob|0:1|1:3|0|No answer | try later\x1b").unwrap();
        assert_eq!(r.state, QueueState::Sleeping);
        assert_eq!(r.status, "No answer | try later\\u{1b}");
    }

    #[test]
    fn broken_lines_are_typed_errors() {
        assert_eq!(
            JobRecord::parse(b"1|D|root"),
            Err(RecordError::MissingFields { found: 3 })
        );
        assert_eq!(
            JobRecord::parse(b"x|D|root|||||"),
            Err(RecordError::BadJobId)
        );
    }
}
