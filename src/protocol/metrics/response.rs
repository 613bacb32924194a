//! The metrics endpoint's responses: the statuses it answers with, and the
//! bytes of each response (status line, headers, body). Deciding which
//! response a request gets is `metrics/mod.rs`'s.

use crate::protocol::{CloseReason, Ctx, Verdict};
use chrono::Utc;
use std::io::Write as _;

/// The `Content-Type` of the exposition (text format 0.0.4).
pub const EXPOSITION_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The HTTP statuses this endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200: the exposition.
    Ok,
    /// 400: a request line or header field line that is not HTTP/1.x.
    BadRequest,
    /// 404: a path other than `/metrics` or `/`.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 414: a request line longer than [`super::MAX_LINE`].
    UriTooLong,
    /// 431: a header field line longer than [`super::MAX_LINE`], or a head
    /// longer than [`super::MAX_HEAD`].
    HeaderFieldsTooLarge,
    /// 503: refused because the server is full (`--max-conns`).
    ServiceUnavailable,
}

impl Status {
    /// Every status, for counting (`sockloop_metrics_requests_total{code}`).
    pub const ALL: [Status; 7] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::UriTooLong,
        Status::HeaderFieldsTooLarge,
        Status::ServiceUnavailable,
    ];

    /// Where this status is in [`Status::ALL`] (and in counters indexed like it).
    pub fn index(self) -> usize {
        Status::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::UriTooLong => 414,
            Status::HeaderFieldsTooLarge => 431,
            Status::ServiceUnavailable => 503,
        }
    }

    /// The reason phrase (RFC 9110 section 15; 431 is RFC 6585).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UriTooLong => "URI Too Long",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }

    /// The body of an error response: one line for a human with curl.
    fn explanation(self) -> &'static str {
        match self {
            Status::Ok => "",
            Status::BadRequest => "not an HTTP/1.x request\n",
            Status::NotFound => "try /metrics\n",
            Status::MethodNotAllowed => "GET or HEAD only\n",
            Status::UriTooLong => "request line too long\n",
            Status::HeaderFieldsTooLarge => "request head too large\n",
            Status::ServiceUnavailable => "server full\n",
        }
    }
}

/// What a well-formed request line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The response's status.
    pub status: Status,
    /// `HEAD`: send the head only.
    pub head_only: bool,
}

/// An error answer: always with its body, whatever the method.
pub(super) fn error(status: Status) -> Answer {
    Answer {
        status,
        head_only: false,
    }
}

/// Writes the response, reports its status in the tally, and closes.
pub(super) fn respond(answer: Answer, ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
    let status = answer.status;
    let (content_type, body) = match status {
        Status::Ok => (EXPOSITION_TYPE, (ctx.exposition)()),
        other => ("text/plain; charset=utf-8", other.explanation().to_owned()),
    };
    // RFC 9110 6.6.1: an origin server with a clock sends Date in 2xx-4xx.
    let date = (ctx.wall_clock)().with_timezone(&Utc);
    let date = date.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    write_head(out, status, content_type, body.len(), Some(&date));
    if !answer.head_only {
        out.extend_from_slice(body.as_bytes());
    }
    log::trace!("metrics: answered {}", status.code());
    ctx.tally.http_response = Some(status);
    let reason = match status {
        // Both come with unread input behind them: the close lingers so
        // that input cannot reset the response away (see `Phase::Lingering`).
        Status::UriTooLong | Status::HeaderFieldsTooLarge => CloseReason::LineTooLong,
        // An answer and the end of the conversation, as `BYE` is.
        Status::Ok
        | Status::BadRequest
        | Status::NotFound
        | Status::MethodNotAllowed
        | Status::ServiceUnavailable => CloseReason::Bye,
    };
    Verdict::Close(reason)
}

/// The status line and headers, up to and including the empty line.
fn write_head(
    out: &mut Vec<u8>,
    status: Status,
    content_type: &str,
    len: usize,
    date: Option<&str>,
) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", status.code(), status.reason());
    if let Some(date) = date {
        let _ = write!(out, "Date: {date}\r\n");
    }
    let _ = write!(
        out,
        "Content-Type: {content_type}\r\nContent-Length: {len}\r\n"
    );
    if status == Status::MethodNotAllowed {
        // RFC 9110 15.5.6: a 405 MUST list the methods that are allowed.
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
}

/// The whole 503 response to a metrics connection refused because the
/// server is full (written by the accept path, which has no session).
pub fn service_unavailable() -> Vec<u8> {
    let status = Status::ServiceUnavailable;
    let body = status.explanation();
    let mut out = Vec::with_capacity(128);
    write_head(
        &mut out,
        status,
        "text/plain; charset=utf-8",
        body.len(),
        None,
    );
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::with_ctx;

    #[test]
    fn the_503_is_a_whole_http_response() {
        assert_eq!(
            String::from_utf8(service_unavailable()).unwrap(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 12\r\nConnection: close\r\n\r\nserver full\n"
        );
    }

    /// Every response: a status line, Date, a Content-Length that is the
    /// body's, Connection: close, and Allow exactly on the 405.
    #[test]
    fn every_status_has_a_consistent_head() {
        for status in Status::ALL {
            let mut out = Vec::new();
            let verdict = with_ctx(false, |ctx| respond(error(status), ctx, &mut out));
            let out = String::from_utf8(out).unwrap();
            let (head, body) = out.split_once("\r\n\r\n").unwrap();
            let first = format!("HTTP/1.1 {} {}\r\n", status.code(), status.reason());
            assert!(out.starts_with(&first), "{out}");
            assert!(head.contains("\r\nDate: Sat, 28 Nov 2026 11:34:56 GMT\r\n"));
            assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
            assert!(head.ends_with("\r\nConnection: close"), "{head}");
            assert_eq!(
                head.contains("\r\nAllow: GET, HEAD\r\n"),
                status == Status::MethodNotAllowed
            );
            assert!(matches!(verdict, Verdict::Close(_)));
        }
    }
}
