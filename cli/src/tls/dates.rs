//! Whether the server's certificate is within its dates. Every client
//! refuses one that is not (exit status 9), and the server would serve it
//! without a word: the operator hears of it when the server starts or
//! reloads the certificate, not from the users.

use std::path::Path;

use time::OffsetDateTime;

/// How long before its expiry a certificate is worth a warning.
const RENEW_WITHIN: time::Duration = time::Duration::days(14);

/// The sentence for the operator when the certificate `leaf` (DER) of the
/// file `path` is out of its dates at `now`, or expires within
/// [`RENEW_WITHIN`]; `None` when it is fine or cannot be read (loading it
/// has already said so).
pub fn dates_warning(path: &Path, leaf: &[u8], now: OffsetDateTime) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let validity = cert.validity();
    let not_before = validity.not_before.to_datetime();
    let not_after = validity.not_after.to_datetime();
    let path = path.display();
    if now > not_after {
        Some(format!(
            "the TLS certificate {path} expired on {}: every client refuses it; put a renewed \
             one in its place (the server reloads it), or make one with `faxnotify tls self-signed --force`",
            utc(not_after)
        ))
    } else if now < not_before {
        Some(format!(
            "the TLS certificate {path} is not valid before {}: clients refuse it until then \
             (is this machine's clock right, or the clients'?)",
            utc(not_before)
        ))
    } else if not_after - now < RENEW_WITHIN {
        Some(format!(
            "the TLS certificate {path} expires on {} (within {} day(s)): renew it before then; \
             the server reloads it when the file changes",
            utc(not_after),
            ((not_after - now).whole_seconds() + 86_399) / 86_400
        ))
    } else {
        None
    }
}

/// When the certificate `leaf` (DER) expired, if it has at `now`: a new
/// certificate file that has is never worth putting in service in place
/// of the one the server has (nor will it ever become valid).
pub fn expired_on(leaf: &[u8], now: OffsetDateTime) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let not_after = cert.validity().not_after.to_datetime();
    (now > not_after).then(|| utc(not_after))
}

/// Logs [`dates_warning`] for the certificate in service, if any.
pub fn warn_if_out_of_dates(path: &Path, leaf: &[u8]) {
    if let Some(warning) = dates_warning(path, leaf, OffsetDateTime::now_utc()) {
        tracing::warn!("{warning}");
    }
}

/// `2026-12-07 17:43:19Z`, as the client says it.
fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::Month::{December, February, January};

    use super::*;

    /// A self-signed certificate's DER, valid from `not_before` to `not_after`.
    fn cert(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(vec!["fax.example.org".to_owned()]).expect("params");
        params.not_before = not_before;
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    /// Midnight UTC (plus `hour`) of a day.
    fn at(year: i32, month: time::Month, day: u8, hour: u8) -> OffsetDateTime {
        time::Date::from_calendar_date(year, month, day)
            .and_then(|d| d.with_hms(hour, 0, 0))
            .expect("a time")
            .assume_utc()
    }

    #[test]
    fn a_certificate_within_its_dates_is_not_worth_a_word() {
        let now = at(2026, December, 7, 12);
        let der = cert(now - Duration::days(1), now + Duration::days(365));
        assert_eq!(dates_warning(Path::new("cert.pem"), &der, now), None);
    }

    #[test]
    fn an_expired_certificate_says_when_and_what_to_do() {
        let now = at(2026, December, 7, 12);
        let der = cert(at(2025, January, 1, 0), at(2025, February, 1, 0));
        let warning = dates_warning(Path::new("tls/cert.pem"), &der, now).expect("a warning");
        assert!(
            warning.starts_with("the TLS certificate tls/cert.pem expired on 2025-02-01 00:00:00Z: every client refuses it"),
            "{warning}"
        );
    }

    #[test]
    fn only_an_expired_certificate_has_an_expiry_date_to_refuse() {
        let now = at(2026, December, 7, 12);
        let old = cert(at(2025, January, 1, 0), at(2025, February, 1, 0));
        assert_eq!(
            expired_on(&old, now).as_deref(),
            Some("2025-02-01 00:00:00Z")
        );
        let soon = cert(now - Duration::days(1), now + Duration::days(1));
        assert_eq!(expired_on(&soon, now), None);
        let future = cert(at(2027, January, 1, 0), at(2028, January, 1, 0));
        assert_eq!(expired_on(&future, now), None);
    }

    #[test]
    fn a_certificate_not_yet_valid_asks_about_the_clock() {
        let now = at(2026, December, 7, 12);
        let der = cert(at(2027, January, 1, 0), at(2028, January, 1, 0));
        let warning = dates_warning(Path::new("cert.pem"), &der, now).expect("a warning");
        assert!(
            warning.contains("is not valid before 2027-01-01 00:00:00Z")
                && warning.contains("clock"),
            "{warning}"
        );
    }

    #[test]
    fn a_certificate_about_to_expire_asks_for_a_renewal() {
        let now = at(2026, December, 7, 12);
        let der = cert(now - Duration::days(300), now + Duration::days(3));
        let warning = dates_warning(Path::new("cert.pem"), &der, now).expect("a warning");
        assert!(
            warning.contains("expires on 2026-12-10 12:00:00Z (within 3 day(s)): renew it"),
            "{warning}"
        );
        let later = cert(now - Duration::days(300), now + Duration::days(15));
        assert_eq!(dates_warning(Path::new("cert.pem"), &later, now), None);
    }

    #[test]
    fn bytes_that_are_no_certificate_give_no_warning() {
        let now = at(2026, December, 7, 12);
        assert_eq!(dates_warning(Path::new("cert.pem"), b"junk", now), None);
    }
}
