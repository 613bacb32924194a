//! The checks behind the fuzz targets in `fuzz_targets/`: each takes the
//! fuzzer's raw bytes, derives its settings from a small header, and panics
//! (which libFuzzer reports as a crash) when sockloop breaks a rule.
//!
//! Session input layout:
//! ```text
//! byte 0      max_line: 1 + b % 32, or the default 4096 when b >= 0xe0
//! byte 1      output budget: 0 = unlimited, else b (backpressure)
//! byte 2      bit 0 allow_remote_shutdown, bit 1 client EOF (finish),
//!             bits 2.. rng seed
//! byte 3      number of chunk cuts (b % 16), followed by that many bytes,
//!             each a cut position (scaled into the input)
//! rest        the bytes the client sends
//! ```
//! The driver feeds chunks exactly as the event loop does: the unconsumed
//! rest is kept and the next chunk appended; held-back lines are fed again
//! before more input; at EOF `finish` answers the final partial line.

use chrono::{DateTime, FixedOffset};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use sockloop::framing::{Frame, next_line};
use sockloop::protocol::{Credentials, Ctx, Service, Session, Tally, Verdict};

/// `next_line` agrees with the framing rules for any bytes and cap.
pub fn check_next_line(data: &[u8]) {
    let Some((&cap, buf)) = data.split_first() else {
        return;
    };
    let max_line = usize::from(cap % 64);
    let newline = buf.iter().position(|&b| b == b'\n');
    match next_line(buf, max_line) {
        Frame::Line { content, consumed } => {
            let at = newline.expect("a line without a newline");
            assert_eq!(consumed, at + 1, "a line ends at the first newline");
            assert!(content.len() <= max_line, "line over the cap");
            let without_cr = buf[..at].strip_suffix(b"\r").unwrap_or(&buf[..at]);
            assert_eq!(content, without_cr);
        }
        Frame::Incomplete => {
            assert!(newline.is_none(), "incomplete despite a newline");
            assert!(buf.len() <= max_line + 1, "incomplete over the cap");
        }
        Frame::TooLong => match newline {
            Some(at) => {
                let line = buf[..at].strip_suffix(b"\r").unwrap_or(&buf[..at]);
                assert!(line.len() > max_line, "too long but within the cap");
            }
            None => assert!(buf.len() > max_line, "too long but within the cap"),
        },
    }
}

/// A fixed wall clock, so `T` replies are deterministic.
fn fixed_clock() -> DateTime<FixedOffset> {
    DateTime::from_timestamp(1_795_000_000, 0)
        .unwrap_or_default()
        .fixed_offset()
}

/// The settings one input decodes to.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_line: usize,
    out_budget: usize,
    allow_remote_shutdown: bool,
    eof: bool,
    seed: u64,
}

/// What a run produced; `rest` is only kept while the connection is open.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    out: Vec<u8>,
    session: Session,
    verdict: Verdict,
    tally: Tally,
    rest: Vec<u8>,
}

/// Feeds `chunks` as the event loop does.
fn drive(service: Service, chunks: &[&[u8]], s: Settings) -> Outcome {
    let credentials = Credentials::default_tutorial();
    let mut rng = SmallRng::seed_from_u64(s.seed);
    // A stand-in for the server's exposition (`GET /metrics`).
    let exposition = || "sockloop_connections_active 0\n".to_owned();
    let mut ctx = Ctx::new(fixed_clock, &mut rng, &credentials, &exposition);
    ctx.allow_remote_shutdown = s.allow_remote_shutdown;
    let mut session = Session::new(service).expect("a TCP service");
    let mut input = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        loop {
            let mut reply = Vec::new();
            let fed = session.feed(&input, &mut ctx, &mut reply, s.max_line, s.out_budget);
            assert!(fed.consumed <= input.len(), "consumed more than given");
            out.extend_from_slice(&reply);
            input.drain(..fed.consumed);
            if fed.verdict != Verdict::Continue {
                return Outcome {
                    out,
                    session,
                    verdict: fed.verdict,
                    tally: ctx.tally,
                    rest: Vec::new(),
                };
            }
            if !input.contains(&b'\n') {
                break;
            }
            assert!(fed.consumed > 0, "held-back lines but no progress");
        }
        // What stays buffered is at most one partial line within the cap.
        assert!(input.len() <= s.max_line + 1, "buffered past the cap");
    }
    let mut verdict = Verdict::Continue;
    if s.eof {
        verdict = session.finish(&input, &mut ctx, &mut out);
        input.clear();
    }
    Outcome {
        out,
        session,
        verdict,
        tally: ctx.tally,
        rest: input,
    }
}

/// Chunked feeding (with the decoded budget) answers exactly as feeding the
/// same bytes whole with no budget.
pub fn check_session(service: Service, data: &[u8]) {
    let [max_line, budget, flags, ncuts, rest @ ..] = data else {
        return;
    };
    let ncuts = usize::from(ncuts % 16).min(rest.len());
    let (cut_bytes, input) = rest.split_at(ncuts);
    let settings = Settings {
        max_line: if *max_line >= 0xe0 {
            4096
        } else {
            1 + usize::from(max_line % 32)
        },
        out_budget: usize::MAX,
        allow_remote_shutdown: flags & 1 != 0,
        eof: flags & 2 != 0,
        seed: u64::from(flags >> 2),
    };
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .map(|&c| usize::from(c) * input.len() / 255)
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);

    let whole = drive(service, &[input], settings);
    let limited = Settings {
        out_budget: if *budget == 0 {
            usize::MAX
        } else {
            usize::from(*budget)
        },
        ..settings
    };
    let chunked = drive(service, &chunks, limited);
    assert_eq!(chunked, whole, "chunks {chunks:?}");
}
