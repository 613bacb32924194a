//! Metrics (`--metrics ADDR`, off by default): the counters over minimal
//! HTTP/1.1, one request per connection (`Connection: close`), which is all
//! a Prometheus scrape (or curl) needs.
//!
//! # Format
//! ```text
//! request      = *CRLF request-line CRLF *(field-line CRLF) CRLF
//! request-line = method SP target SP "HTTP/1." DIGIT   ; target's "?query" ignored
//! field-line   = name ":" value                        ; read, checked, ignored
//!
//! GET|HEAD /metrics (or /)   -> 200, Prometheus text exposition 0.0.4
//! GET|HEAD another path      -> 404
//! another method             -> 405 with "Allow: GET, HEAD"
//! request line > MAX_LINE    -> 414          } answered at once,
//! field line > MAX_LINE,                     } without waiting for
//!   or head > MAX_HEAD,                      } the end of the head
//!   or > MAX_FIELDS fields   -> 431          }
//! malformed line             -> 400          }
//! (server full: 503, written by the accept path: service_unavailable)
//! head not complete within HEAD_TIMEOUT_MS of the accept -> closed (the loop's timer)
//! ```
//! Every response has `Content-Length` and `Connection: close`; a response
//! to `HEAD` is the same head without the body (RFC 9110 9.3.2). The line
//! framing is the other services' ([`crate::framing`]) with this endpoint's
//! own limits, so `--max-line` (a setting for the tutorial services) does
//! not apply here. The responses are written by `metrics/response.rs`; the
//! body of a `200` is the caller's ([`Ctx::exposition`]): the server owns
//! the counters and renders them, this endpoint only speaks HTTP.
//!
//! # States
//! ```text
//! AwaitRequestLine --request line--> Headers{answer} --empty line--> (answer, closed)
//! ```
//! Every change of state goes through [`Http::set_state`], which traces it.

mod response;

pub use response::{Answer, EXPOSITION_TYPE, Status, service_unavailable};

use super::{Ctx, Verdict};
use response::{error, respond};

/// The longest request line or header field line, without its CRLF.
///
/// 8 KiB is nginx's default `large_client_header_buffers` size, so a line
/// nginx accepts is accepted here too; Prometheus sends lines under 200 bytes.
pub const MAX_LINE: usize = 8 * 1024;

/// The longest request head (every line counted with its CRLF).
///
/// 32 KiB is nginx's default total (4 buffers of 8k). It bounds the work a
/// client can make us do on one connection with a head that never ends.
pub const MAX_HEAD: usize = 32 * 1024;

/// The most header field lines in a request head: 100, Apache's
/// `LimitRequestFields` default. Prometheus sends about five.
pub const MAX_FIELDS: u16 = 100;

/// How long the whole request head may take to arrive, from the accept:
/// 10 s, Prometheus's default `scrape_timeout` (a head slower than that
/// belongs to a scrape that has already given up). Activity does not extend
/// it, so a client cannot hold a connection by dripping header lines.
/// Enforced by the loop's timer (`Conn::deadline`), which knows the time.
pub const HEAD_TIMEOUT_MS: u64 = 10_000;

/// Where the request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpState {
    /// Waiting for `METHOD TARGET VERSION`.
    AwaitRequestLine,
    /// Reading (checking, then ignoring) header fields until the empty line.
    Headers {
        /// What the request line asked for, sent after the head.
        answer: Answer,
    },
}

/// One metrics connection's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    state: HttpState,
    /// Bytes of the head so far, bounded by [`MAX_HEAD`].
    head_bytes: usize,
    /// Header field lines so far, bounded by [`MAX_FIELDS`].
    fields: u16,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// A new connection.
    pub fn new() -> Http {
        Http {
            state: HttpState::AwaitRequestLine,
            head_bytes: 0,
            fields: 0,
        }
    }

    /// Where the request is.
    pub fn state(&self) -> HttpState {
        self.state
    }

    /// The one place the state changes, traced as `old -> new`.
    fn set_state(&mut self, new: HttpState) {
        log::trace!("metrics: {:?} -> {:?}", self.state, new);
        self.state = new;
    }

    /// One line of the request head (without its CRLF).
    pub fn on_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        // CRLF is counted although a bare LF may have ended the line: the
        // bound only needs to be a bound.
        self.head_bytes += line.len() + 2;
        if self.head_bytes > MAX_HEAD {
            return respond(error(Status::HeaderFieldsTooLarge), ctx, out);
        }
        match self.state {
            // RFC 9112 2.2: ignore empty lines before the request line
            // (bounded by MAX_HEAD like every other head byte).
            HttpState::AwaitRequestLine if line.is_empty() => Verdict::Continue,
            HttpState::AwaitRequestLine => match parse_request_line(line) {
                Some(answer) => {
                    self.set_state(HttpState::Headers { answer });
                    Verdict::Continue
                }
                None => respond(error(Status::BadRequest), ctx, out),
            },
            HttpState::Headers { answer } if line.is_empty() => respond(answer, ctx, out),
            HttpState::Headers { .. } if self.fields >= MAX_FIELDS => {
                respond(error(Status::HeaderFieldsTooLarge), ctx, out)
            }
            HttpState::Headers { .. } if is_field_line(line) => {
                self.fields += 1;
                Verdict::Continue
            }
            HttpState::Headers { .. } => respond(error(Status::BadRequest), ctx, out),
        }
    }

    /// The framing found a line longer than [`MAX_LINE`]: 414 for the
    /// request line, 431 for a header field line.
    pub fn on_too_long(&mut self, ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        let status = match self.state {
            HttpState::AwaitRequestLine => Status::UriTooLong,
            HttpState::Headers { .. } => Status::HeaderFieldsTooLarge,
        };
        respond(error(status), ctx, out)
    }
}

/// `METHOD SP TARGET SP HTTP/1.x`, or `None` if the line is not that.
/// Runs of spaces are accepted as one (RFC 9112 3 allows that leniency).
fn parse_request_line(line: &[u8]) -> Option<Answer> {
    let mut parts = line.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let is_http1 =
        matches!(version, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit());
    if parts.next().is_some() || !is_http1 {
        return None;
    }
    // Scrape configs add `?params`; the path alone decides.
    let path = target.split(|b| *b == b'?').next().unwrap_or(target);
    let status = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics" | b"/") => Status::Ok,
        (b"GET" | b"HEAD", _) => Status::NotFound,
        _ => Status::MethodNotAllowed,
    };
    Some(Answer {
        status,
        head_only: method == b"HEAD",
    })
}

/// `name ":" value` with a non-empty name free of whitespace (RFC 9112 5.1
/// says whitespace before the colon MUST get 400; a line starting with
/// whitespace is an obsolete line folding, which we refuse the same way).
fn is_field_line(line: &[u8]) -> bool {
    match memchr::memchr(b':', line) {
        Some(colon) => {
            let name = &line[..colon];
            !name.is_empty() && !name.iter().any(|b| b.is_ascii_whitespace())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::{EXPOSITION, with_ctx};
    use crate::protocol::{CloseReason, Session};

    /// Feeds `head` in one piece to a new metrics session; returns the
    /// response, the verdict and the status reported in the tally.
    #[track_caller]
    fn request(head: &[u8]) -> (String, Verdict, Option<Status>) {
        let mut s = Session::Metrics(Http::new());
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            // 16: the tutorial services' --max-line must not apply here.
            let fed = s.feed(head, ctx, &mut out, 16, usize::MAX);
            let out = String::from_utf8(out).unwrap();
            (out, fed.verdict, ctx.tally.http_response)
        })
    }

    /// The status line of a response.
    #[track_caller]
    fn status_line(head: &[u8]) -> String {
        let (out, _, _) = request(head);
        out.split("\r\n").next().unwrap_or_default().to_owned()
    }

    // ---- well-formed requests: answered after the head ----

    #[test]
    fn get_metrics_answers_200_with_the_exposition_and_closes() {
        let (out, v, status) = request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 200 OK\r\nDate: Sat, 28 Nov 2026 11:34:56 GMT\r\n\
                 Content-Type: {EXPOSITION_TYPE}\r\nContent-Length: {}\r\n\
                 Connection: close",
                body.len()
            )
        );
        assert!(body.contains("sockloop_connections_active 0\n"), "{body}");
        assert_eq!(body, EXPOSITION, "the caller's exposition, unchanged");
        assert_eq!(v, Verdict::Close(CloseReason::Bye));
        assert_eq!(status, Some(Status::Ok));
    }

    #[test]
    fn head_gets_the_get_head_without_the_body() {
        let (get, _, _) = request(b"GET /metrics HTTP/1.1\r\n\r\n");
        let (head, v, status) = request(b"HEAD /metrics HTTP/1.1\r\n\r\n");
        let get_head = get.split_once("\r\n\r\n").unwrap().0;
        assert_eq!(head, format!("{get_head}\r\n\r\n"));
        assert_eq!(
            (v, status),
            (Verdict::Close(CloseReason::Bye), Some(Status::Ok))
        );
        let (not_found, _, _) = request(b"HEAD /x HTTP/1.1\r\n\r\n");
        assert!(
            not_found.ends_with("Connection: close\r\n\r\n"),
            "{not_found}"
        );
    }

    #[test]
    fn the_query_string_is_ignored() {
        assert_eq!(
            status_line(b"GET /metrics?x=1&y HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK"
        );
        assert_eq!(status_line(b"GET /?x HTTP/1.0\r\n\r\n"), "HTTP/1.1 200 OK");
        assert_eq!(
            status_line(b"GET /x?/metrics HTTP/1.0\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
    }

    #[test]
    fn waits_for_the_end_of_the_head() {
        let (out, v, status) = request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
        assert_eq!((out.as_str(), v, status), ("", Verdict::Continue, None));
    }

    #[test]
    fn empty_lines_before_the_request_line_are_ignored() {
        assert_eq!(
            status_line(b"\r\n\nGET / HTTP/1.0\r\n\r\n"),
            "HTTP/1.1 200 OK"
        );
    }

    #[test]
    fn other_paths_get_404_and_other_methods_405_with_allow() {
        assert_eq!(
            status_line(b"GET /x HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
        let (out, v, status) = request(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(
            out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{out}"
        );
        assert!(out.contains("\r\nAllow: GET, HEAD\r\n"), "{out}");
        assert_eq!(
            (v, status),
            (
                Verdict::Close(CloseReason::Bye),
                Some(Status::MethodNotAllowed)
            )
        );
    }

    // ---- bad heads: answered at once, then the connection closes ----

    #[test]
    fn a_request_line_over_max_line_gets_414_before_its_end_arrives() {
        let mut line = b"GET /metrics?".to_vec();
        line.resize(10_000, b'a');
        let (out, v, status) = request(&line);
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
        assert_eq!(v, Verdict::Close(CloseReason::LineTooLong));
        assert_eq!(status, Some(Status::UriTooLong));
        // Exactly MAX_LINE is still a line.
        let mut ok = b"GET /metrics?".to_vec();
        ok.resize(MAX_LINE - b" HTTP/1.1".len(), b'a');
        ok.extend_from_slice(b" HTTP/1.1\r\n\r\n");
        assert_eq!(status_line(&ok), "HTTP/1.1 200 OK");
    }

    #[test]
    fn a_header_over_max_line_gets_431() {
        let mut head = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        head.resize(10_000, b'a');
        let (out, v, status) = request(&head);
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        assert_eq!(v, Verdict::Close(CloseReason::LineTooLong));
        assert_eq!(status, Some(Status::HeaderFieldsTooLarge));
    }

    #[test]
    fn a_head_over_max_head_gets_431() {
        let mut head = b"GET /metrics HTTP/1.1\r\n".to_vec();
        let field = b"X-Many: 0123456789\r\n";
        while head.len() <= MAX_HEAD {
            head.extend_from_slice(field);
        }
        assert_eq!(
            status_line(&head),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn more_than_max_fields_header_lines_get_431() {
        let mut head = b"GET /metrics HTTP/1.1\r\n".to_vec();
        for _ in 0..MAX_FIELDS {
            head.extend_from_slice(b"X: y\r\n");
        }
        let mut ok = head.clone();
        ok.extend_from_slice(b"\r\n");
        assert_eq!(status_line(&ok), "HTTP/1.1 200 OK", "exactly MAX_FIELDS");
        head.extend_from_slice(b"X: y\r\n\r\n");
        assert_eq!(
            status_line(&head),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn malformed_request_lines_get_400() {
        for line in [
            &b"hello"[..],
            b"GET /metrics",
            b"GET /metrics HTTP/2.0",
            b"GET /metrics HTTP/1.1 extra",
            b"GET /metrics FTP/1.1",
        ] {
            let mut head = line.to_vec();
            head.extend_from_slice(b"\r\n");
            let (out, v, status) = request(&head);
            assert!(
                out.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{line:?}: {out}"
            );
            assert_eq!(v, Verdict::Close(CloseReason::Bye), "{line:?}");
            assert_eq!(status, Some(Status::BadRequest));
        }
    }

    #[test]
    fn malformed_header_lines_get_400() {
        for field in [&b"Host x"[..], b"Host : x", b" folded: x", b": no name"] {
            let mut head = b"GET /metrics HTTP/1.1\r\n".to_vec();
            head.extend_from_slice(field);
            head.extend_from_slice(b"\r\n\r\n");
            assert_eq!(status_line(&head), "HTTP/1.1 400 Bad Request", "{field:?}");
        }
    }

    #[test]
    fn state_changes_from_request_line_to_headers() {
        let mut http = Http::new();
        with_ctx(false, |ctx| {
            let v = http.on_line(b"HEAD / HTTP/1.1", ctx, &mut Vec::new());
            assert_eq!(v, Verdict::Continue);
        });
        let answer = Answer {
            status: Status::Ok,
            head_only: true,
        };
        assert_eq!(http.state(), HttpState::Headers { answer });
    }
}
