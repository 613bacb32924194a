//! Flag values: the parsers and range checks every subcommand shares.
//!
//! A leaf module (it uses nothing else in the crate), so `serve`, `client`
//! and `load` can all use it. Each parser here is a clap `value_parser`: a bad
//! value is reported by clap as `invalid value 'V' for '--FLAG <N>': must be
//! RANGE`, so the message always names the flag and what it accepts.
//! Numeric flags also need `allow_negative_numbers = true`, or clap takes
//! `-5` for a flag and never shows the range.
//!
//! # Format
//! ```text
//! addr    = host [":" port]       ; port optional only where a default exists
//! host    = IPv4 | "[" IPv6 "]" | IPv6 | NAME   ; NAME resolved, first result
//! secs    = decimal number of seconds, fractions allowed ("0.5", "1e-3")
//! time    = RFC 3339 ("2026-12-02T09:30:00Z") | unix seconds ("1796203800")
//! label   = 1..=MAX_LABEL printable bytes, no control characters
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest duration any flag takes: a week. Keeps deadline arithmetic on
/// `Instant` far from overflow; nothing sockloop times runs longer.
pub const MAX_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// Shortest non-zero duration a timing flag takes: 1 ms, because both event
/// loops sleep in epoll, whose timeout counts whole milliseconds.
pub const TIMER_RESOLUTION_SECS: f64 = 0.001;

/// Most connections `serve --max-conns` and `load --conns` take: ten
/// million, ten times what one Linux process can have open (fs.nr_open
/// defaults to 1,048,576), so `load --workers 10` can still reach it. Bounds
/// the generator's per-connection preallocation.
pub const MAX_CONNS: u64 = 10_000_000;

/// Most `--workers`: 1024 processes, more than the cores of any machine
/// sockloop runs on (one single-threaded loop per core is the point).
pub const MAX_WORKERS: u64 = 1024;

/// A clap value parser for a whole number in `range`. The text is read as
/// an `i128` first, so `-5` and `99999999999` get the range message rather
/// than a parse error.
pub fn int_in<T>(range: RangeInclusive<u64>) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: TryFrom<u64>,
{
    move |s| {
        let out_of_range = || format!("must be {}..={}", range.start(), range.end());
        let n: i128 = s
            .trim()
            .parse()
            .map_err(|_| format!("not a whole number; {}", out_of_range()))?;
        u64::try_from(n)
            .ok()
            .filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(out_of_range)
    }
}

/// A clap value parser for a number in `range`, or exactly 0 when
/// `zero_means` names what 0 does (e.g. `"as fast as possible"`).
pub fn number_in(
    range: RangeInclusive<f64>,
    zero_means: Option<&'static str>,
) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |s| {
        let expected = match zero_means {
            Some(zero) => format!("must be 0 ({zero}) or {}..={}", range.start(), range.end()),
            None => format!("must be {}..={}", range.start(), range.end()),
        };
        let x: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("not a number; {expected}"))?;
        let zero_ok = x == 0.0 && zero_means.is_some();
        // `contains` is false for NaN, and infinity is above every range.
        if zero_ok || range.contains(&x) {
            Ok(x)
        } else {
            Err(expected)
        }
    }
}

/// A clap value parser for seconds (fractions allowed) from `min` to
/// [`MAX_SECS`], or exactly 0 when `zero_means` names what 0 does.
pub fn secs_in(
    min: f64,
    zero_means: Option<&'static str>,
) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    secs_between(min..=MAX_SECS, zero_means)
}

/// A clap value parser for seconds (fractions allowed) in `range` (at most
/// [`MAX_SECS`]), or exactly 0 when `zero_means` names what 0 does.
pub fn secs_between(
    range: RangeInclusive<f64>,
    zero_means: Option<&'static str>,
) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    let number = number_in(*range.start()..=range.end().min(MAX_SECS), zero_means);
    move |s| {
        let secs = number(s).map_err(|e| format!("{e} seconds"))?;
        Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
    }
}

/// A service address on the command line: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint(pub Option<SocketAddr>);

impl fmt::Display for Endpoint {
    /// The form [`endpoint`]'s parser reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// A clap value parser for a listener flag: [`parse_addr`] with the
/// service's `default_port`, or `off`.
pub fn endpoint(default_port: u16) -> impl Fn(&str) -> Result<Endpoint, String> + Clone {
    move |s| {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Endpoint(None));
        }
        parse_addr(s, Some(default_port))
            .map(|a| Endpoint(Some(a)))
            .map_err(|e| format!("{e}, or off"))
    }
}

/// An address to connect to: [`parse_addr`], and port 0 refused (nothing
/// can be reached there).
pub fn connect_addr(s: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    let addr = parse_addr(s, default_port)?;
    if addr.port() == 0 {
        return Err(format!("'{s}': port 0 cannot be connected to"));
    }
    Ok(addr)
}

/// The one address syntax of every subcommand (see `# Format` above):
/// `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`; the port may be left out only
/// when the flag has a `default_port`.
pub fn parse_addr(s: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let expected = match default_port {
        Some(port) => format!("IP:PORT, [IPv6]:PORT or HOST:PORT (the port defaults to {port})"),
        None => "IP:PORT, [IPv6]:PORT or HOST:PORT (the port is required)".to_owned(),
    };
    let bare = s
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return default_port
            .map(|port| SocketAddr::new(ip, port))
            .ok_or_else(|| format!("'{s}' has no port; expected {expected}"));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("'{s}': the port must be 0..=65535"))?;
            (host, port)
        }
        None => match default_port {
            Some(port) => (s, port),
            None => return Err(format!("'{s}' has no port; expected {expected}")),
        },
    };
    let host = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(':') {
        return Err(format!("'{s}' is not an address; expected {expected}"));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut found| found.next())
        .ok_or_else(|| format!("'{s}': no address found for host '{host}'; expected {expected}"))
}

/// Longest `--label`: it names one host's part of a run in reports and
/// their tables, where a line of text is plenty.
pub const MAX_LABEL: usize = 128;

/// A clap value parser for a wall-clock instant: RFC 3339 with its offset
/// (`2026-12-02T09:30:00Z`, `...+01:00`), or seconds since the Unix epoch
/// (fractions allowed). Whether it lies in the future is the caller's rule.
pub fn wall_time(s: &str) -> Result<SystemTime, String> {
    let s = s.trim();
    let expected = "expected RFC 3339 (2026-12-02T09:30:00Z) or unix seconds";
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        let nanos = t
            .timestamp_nanos_opt()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("'{s}' is before 1970 or after 2262; {expected}"))?;
        return Ok(UNIX_EPOCH + Duration::from_nanos(nanos));
    }
    match s.parse::<f64>() {
        // Up to the year 2262 (u64 nanoseconds), like the RFC 3339 form.
        Ok(secs) if (0.0..1.8e10).contains(&secs) => Ok(UNIX_EPOCH + Duration::from_secs_f64(secs)),
        _ => Err(format!("'{s}' is not a time; {expected}")),
    }
}

/// A clap value parser for `--label`: printable text of at most
/// [`MAX_LABEL`] bytes (it is printed in reports and written into HTML).
pub fn label(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_LABEL {
        return Err(format!("must be 1..={MAX_LABEL} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_owned())
}

/// `d` in seconds for messages and logs: `0.5 s`, `300 s`.
pub fn show_secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_are_rfc3339_or_unix_seconds() {
        let t = wall_time("2026-12-02T09:30:00Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_796_203_800));
        assert_eq!(wall_time("2026-12-02T10:30:00+01:00").unwrap(), t);
        assert_eq!(wall_time(" 1796203800 ").unwrap(), t);
        assert_eq!(
            wall_time("1796203800.5").unwrap(),
            t + Duration::from_millis(500)
        );
        for bad in ["", "soon", "-1", "2026-12-02 09:30", "1e99", "NaN"] {
            let e = wall_time(bad).unwrap_err();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn labels_are_short_printable_text() {
        assert_eq!(label("host 1").unwrap(), "host 1");
        assert!(label("").is_err());
        assert!(label(&"x".repeat(MAX_LABEL + 1)).is_err());
        assert!(label("a\nb").is_err());
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn whole_numbers_are_range_checked_not_type_checked() {
        let workers = int_in::<u16>(1..=MAX_WORKERS);
        assert_eq!(workers("4"), Ok(4));
        assert_eq!(workers("-1"), Err("must be 1..=1024".into()));
        assert_eq!(workers("0"), Err("must be 1..=1024".into()));
        assert_eq!(
            workers("99999999999999999999"),
            Err("must be 1..=1024".into())
        );
        assert_eq!(
            workers("two"),
            Err("not a whole number; must be 1..=1024".into())
        );
        // A range wider than the target type: the type bounds it too.
        assert!(int_in::<u8>(1..=1000)("300").is_err());
    }

    #[test]
    fn numbers_allow_zero_only_when_it_means_something() {
        let rate = number_in(0.001..=10.0, None);
        assert_eq!(rate("0.5"), Ok(0.5));
        assert!(rate("0").is_err());
        assert!(rate("NaN").is_err());
        assert!(rate("inf").is_err());
        let connect_rate = number_in(0.001..=10.0, Some("unpaced"));
        assert_eq!(connect_rate("0"), Ok(0.0));
        assert_eq!(
            connect_rate("-3"),
            Err("must be 0 (unpaced) or 0.001..=10".into())
        );
    }

    #[test]
    fn seconds_have_a_floor_a_ceiling_and_an_optional_zero() {
        let interval = secs_in(0.1, Some("off"));
        assert_eq!(interval("0"), Ok(Duration::ZERO));
        assert_eq!(interval("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(
            interval("0.0001"),
            Err("must be 0 (off) or 0.1..=604800 seconds".into())
        );
        assert!(interval("604801").is_err());
        assert!(interval("-1").is_err());
        let duration = secs_in(TIMER_RESOLUTION_SECS, None);
        assert_eq!(duration("0"), Err("must be 0.001..=604800 seconds".into()));
        assert_eq!(duration("1e-3"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn one_address_syntax() {
        assert_eq!(parse_addr("127.0.0.1:9", None), Ok(addr("127.0.0.1:9")));
        assert_eq!(parse_addr("[::1]:9", None), Ok(addr("[::1]:9")));
        assert_eq!(parse_addr("127.0.0.1", Some(7)), Ok(addr("127.0.0.1:7")));
        assert_eq!(parse_addr("::1", Some(7)), Ok(addr("[::1]:7")));
        assert_eq!(parse_addr("[::1]", Some(7)), Ok(addr("[::1]:7")));
        assert!(parse_addr("localhost:9", None).is_ok_and(|a| a.port() == 9));
        assert!(parse_addr("localhost", Some(7)).is_ok_and(|a| a.port() == 7));
    }

    #[test]
    fn address_errors_say_what_is_missing() {
        let no_port = parse_addr("127.0.0.1", None).unwrap_err();
        assert!(no_port.contains("has no port") && no_port.contains("IP:PORT"));
        assert!(parse_addr("localhost", None).is_err());
        let port = parse_addr("127.0.0.1:99999", Some(7)).unwrap_err();
        assert!(port.contains("0..=65535"), "{port}");
        assert!(parse_addr(":7", None).is_err());
        assert!(parse_addr("1:2:3", Some(7)).is_err());
        assert!(
            connect_addr("127.0.0.1:0", None)
                .unwrap_err()
                .contains("port 0")
        );
    }

    #[test]
    fn endpoints_take_off_and_default_ports() {
        let echo = endpoint(7000);
        assert_eq!(echo("off"), Ok(Endpoint(None)));
        assert_eq!(echo("0.0.0.0"), Ok(Endpoint(Some(addr("0.0.0.0:7000")))));
        let text = Endpoint(Some(addr("[::1]:0"))).to_string();
        assert_eq!(echo(&text), Ok(Endpoint(Some(addr("[::1]:0")))));
        assert!(echo("nonsense:x").unwrap_err().ends_with("or off"));
    }
}
