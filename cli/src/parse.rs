//! Parsers for command-line values: durations, host:port addresses and
//! the texts a fax engine passes on.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::builder::{OsStringValueParser, TypedValueParser};
use std::time::Duration;

/// Parses a duration: a number with an optional unit, `ms`, `s` (the
/// default), `m` or `h`: `500ms`, `5s`, `5`, `1.5s`, `2m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let expected = || format!("{text:?} is not a duration: write e.g. 500ms, 5s, 2m, 1h or 7d");
    if number.is_empty() {
        return Err(expected());
    }
    let value: f64 = number.parse().map_err(|_| expected())?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(expected()),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| expected())
}

/// Resolves `host:port` to its first address (IPv6 in brackets).
pub fn host_port(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = host_port_all(text)?;
    Ok(addrs.remove(0))
}

/// Resolves `host:port` to every address it names, in the resolver's order
/// (never empty; IPv6 in brackets).
pub fn host_port_all(text: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    if !text.contains(':') {
        return Err(format!(
            "{text:?} is not host:port: add the port, e.g. {text}:4580"
        ));
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {text:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{text:?} resolves to no address"));
    }
    Ok(addrs)
}

/// A listen address: `host:port`, or a bare port meaning all interfaces
/// (`[::]`, dual-stack).
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([0u16; 8], port)));
    }
    host_port(text)
}

/// A text a fax engine passes on as the line gave it (a caller id, a TSI,
/// a status): bytes that are not UTF-8 (a caller name in Latin-1) become
/// U+FFFD, as the HylaFAX bridge makes them. Refusing them would lose the
/// notification, and a hook has nobody to tell.
pub fn engine_text() -> impl TypedValueParser<Value = String> {
    OsStringValueParser::new().map(|text| text.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_garbage() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "s", "5 parsecs", "-1s", "1..2s"] {
            let err = duration(bad).expect_err(bad);
            assert!(err.contains("is not a duration"), "{err}");
        }
    }

    #[test]
    fn addresses_need_a_port() {
        assert_eq!(
            host_port("127.0.0.1:4580"),
            Ok("127.0.0.1:4580".parse().unwrap())
        );
        assert_eq!(host_port("[::1]:4580"), Ok("[::1]:4580".parse().unwrap()));
        assert!(host_port("localhost:4580").is_ok());
        assert!(
            host_port("fax.example")
                .unwrap_err()
                .contains("add the port")
        );
        assert_eq!(listen_addr("4580"), Ok("[::]:4580".parse().unwrap()));
    }
}
