//! Metrics (`--metrics ADDR`, off by default): the counters over minimal HTTP.
//!
//! # Format
//! ```text
//! request  = "GET /metrics HTTP/1.x" CRLF *(header CRLF) CRLF
//! response = "HTTP/1.1 200 OK" ... CRLF CRLF <Prometheus text exposition 0.0.4>
//!            404 for another path, 405 for another method
//! ```
//! One request per connection (`Connection: close`), which is all a
//! Prometheus scrape needs. HTTP/1 request heads are lines, so the same line
//! framing as the other services applies, `--max-line` included; headers are
//! read and ignored. The body comes from [`crate::metrics::render`].

use super::{CloseReason, Ctx, Verdict};

/// Where the request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Http {
    /// Waiting for `METHOD TARGET VERSION`.
    AwaitRequestLine,
    /// Reading (and ignoring) headers until the empty line.
    Headers {
        /// What the request line asked for.
        answer: Answer,
    },
}

/// The response the request line decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `GET /metrics` (or `GET /`).
    Metrics,
    /// Another path.
    NotFound,
    /// Another method.
    MethodNotAllowed,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// A new connection.
    pub fn new() -> Http {
        Http::AwaitRequestLine
    }

    /// One line of the request head.
    pub fn on_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        match self {
            // RFC 9112 2.2: ignore empty lines before the request line.
            Http::AwaitRequestLine if line.is_empty() => Verdict::Continue,
            Http::AwaitRequestLine => {
                let answer = decide(line);
                log::trace!("metrics: AwaitRequestLine -> Headers({answer:?})");
                *self = Http::Headers { answer };
                Verdict::Continue
            }
            Http::Headers { answer } if line.is_empty() => {
                ctx.tally.requests += 1;
                respond(*answer, ctx, out);
                Verdict::Close(CloseReason::Bye)
            }
            Http::Headers { .. } => Verdict::Continue,
        }
    }
}

fn decide(request_line: &[u8]) -> Answer {
    let mut parts = request_line.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let (method, target) = (parts.next(), parts.next());
    match (method, target) {
        (Some(b"GET"), Some(b"/metrics" | b"/")) => Answer::Metrics,
        (Some(b"GET"), _) => Answer::NotFound,
        _ => Answer::MethodNotAllowed,
    }
}

fn respond(answer: Answer, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let (status, content_type, body) = match answer {
        Answer::Metrics => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render(ctx.stats),
        ),
        Answer::NotFound => ("404 Not Found", "text/plain", "try /metrics\n".to_owned()),
        Answer::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Session;
    use crate::protocol::testing::feed_all;

    #[track_caller]
    fn request(head: &[u8]) -> (String, Verdict) {
        let mut s = Session::Metrics(Http::new());
        let (out, fed) = feed_all(&mut s, head);
        (String::from_utf8(out).unwrap(), fed.verdict)
    }

    #[test]
    fn get_metrics_answers_200_with_the_exposition_and_closes() {
        let (out, v) = request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("sockloop_connections_active 0\n"), "{out}");
        assert_eq!(v, Verdict::Close(CloseReason::Bye));
        let body = out.split_once("\r\n\r\n").unwrap().1;
        assert!(out.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn waits_for_the_end_of_the_head() {
        let (out, v) = request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
        assert_eq!((out.as_str(), v), ("", Verdict::Continue));
    }

    #[test]
    fn other_paths_and_methods_get_errors() {
        assert!(
            request(b"GET /x HTTP/1.1\r\n\r\n")
                .0
                .starts_with("HTTP/1.1 404 ")
        );
        assert!(
            request(b"POST /metrics HTTP/1.1\r\n\r\n")
                .0
                .starts_with("HTTP/1.1 405 ")
        );
        assert!(
            request(b"\r\nGET / HTTP/1.0\r\n\r\n")
                .0
                .starts_with("HTTP/1.1 200 ")
        );
    }
}
