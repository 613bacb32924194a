//! Property tests of the sans-IO protocols (`sockloop::protocol`): how the
//! network splits a byte stream into reads must never change what a
//! connection answers.
//!
//! The driver feeds chunks exactly as the event loop does (`server::tcp`):
//! the unconsumed rest of one `Session::feed` is kept and the next chunk is
//! appended to it; while the rest still holds a complete line (the output
//! budget held it back), it is fed again before the next chunk; at the
//! client's EOF `Session::finish` answers a final unterminated line. The
//! clock is fixed and the rng re-seeded identically for every run, so `R`
//! and `T` replies are deterministic.

use chrono::{DateTime, FixedOffset};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use sockloop::protocol::{Credentials, Ctx, Service, Session, Tally, Verdict};

/// Cases per property: enough to cover the chunking and framing corners
/// (each case runs all four line services), small enough for a fast suite.
const CASES: u32 = 256;

/// The line-framed services (the metrics endpoint's HTTP head is lines too).
const LINE_SERVICES: [Service; 4] = [
    Service::Greet,
    Service::Login,
    Service::Command,
    Service::Metrics,
];

/// A fixed wall clock for `T`.
fn fixed_clock() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T12:34:56.789+01:00").unwrap()
}

/// How one connection ended up after its input.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Every reply byte, in order.
    out: Vec<u8>,
    /// The session's final state.
    session: Session,
    /// The last verdict (`Continue` if the input ran out with it open).
    verdict: Verdict,
    /// What the protocol counted (requests, logins).
    tally: Tally,
    /// Input left unconsumed while the connection is open (a partial line).
    /// Empty once it closes: the loop discards input after a close.
    rest: Vec<u8>,
}

/// The settings of one run.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_line: usize,
    out_budget: usize,
    seed: u64,
    allow_remote_shutdown: bool,
    /// Whether the client half-closes after its input (`finish` is called).
    eof: bool,
}

/// Feeds `chunks` to a fresh session of `service` as the event loop does.
fn drive(service: Service, chunks: &[&[u8]], settings: Settings) -> Outcome {
    let credentials = Credentials::from_specs(&["admin:12345", "bob:pw"]).unwrap();
    let mut rng = SmallRng::seed_from_u64(settings.seed);
    // A stand-in for the server's exposition (`GET /metrics`).
    let exposition = || "sockloop_connections_active 0\n".to_owned();
    let mut ctx = Ctx::new(fixed_clock, &mut rng, &credentials, &exposition);
    ctx.allow_remote_shutdown = settings.allow_remote_shutdown;
    let mut session = Session::new(service).unwrap();
    let mut input: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        loop {
            let mut reply = Vec::new();
            let fed = session.feed(
                &input,
                &mut ctx,
                &mut reply,
                settings.max_line,
                settings.out_budget,
            );
            assert!(fed.consumed <= input.len());
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
            // Lines held back by the budget are answered before more input.
            if !input.contains(&b'\n') {
                break;
            }
            assert!(fed.consumed > 0, "held-back lines but no progress");
        }
    }
    let mut verdict = Verdict::Continue;
    if settings.eof {
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

/// Splits `input` at the given (arbitrary) positions.
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    chunks
}

/// Input made of protocol-shaped tokens (users, passwords, commands, line
/// ends, long runs that cross a small `--max-line`) and arbitrary bytes.
fn input_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"admin\n12345\n".to_vec()),
        Just(b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec()),
        Just(b"POST / HTTP/1.0\r\n".to_vec()),
        Just(b"bob\r\npw\r\n".to_vec()),
        Just(b"admin".to_vec()),
        Just(b"12345".to_vec()),
        Just(b"R".to_vec()),
        Just(b"t".to_vec()),
        Just(b" L ".to_vec()),
        Just(b"e".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b" \t".to_vec()),
        Just(b"\x00\xff".to_vec()),
        (0usize..40).prop_map(|n| vec![b'a'; n]),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// `--max-line`: mostly tiny (so long lines and the `\r` corner at
/// `max_line + 1` are common), sometimes the default.
fn max_line() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 1usize..24, 1 => Just(4096usize)]
}

fn settings(out_budget: usize) -> impl Strategy<Value = Settings> {
    (max_line(), any::<u64>(), any::<bool>(), any::<bool>()).prop_map(
        move |(max_line, seed, allow_remote_shutdown, eof)| Settings {
            max_line,
            out_budget,
            seed,
            allow_remote_shutdown,
            eof,
        },
    )
}

proptest! {
    // No failure persistence: a failing case is printed (shrunk) instead of
    // being written to a regressions file next to the sources.
    #![proptest_config(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any chunking of the same bytes gives the same replies, verdict,
    /// final session state and leftover input as feeding them whole.
    #[test]
    fn chunking_never_changes_the_conversation(
        input in input_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        settings in settings(usize::MAX),
    ) {
        let chunks = split(&input, &cuts);
        for service in LINE_SERVICES {
            let whole = drive(service, &[&input], settings);
            let chunked = drive(service, &chunks, settings);
            prop_assert_eq!(&chunked, &whole, "{:?} chunks {:?}", service, chunks);
        }
    }

    /// A small output budget (backpressure holding lines back) changes when
    /// lines are answered, never what is answered.
    #[test]
    fn output_budget_never_changes_the_conversation(
        input in input_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        budget in 1usize..64,
        settings in settings(usize::MAX),
    ) {
        let chunks = split(&input, &cuts);
        let limited = Settings { out_budget: budget, ..settings };
        for service in LINE_SERVICES {
            let whole = drive(service, &[&input], settings);
            let chunked = drive(service, &chunks, limited);
            prop_assert_eq!(&chunked, &whole, "{:?} budget {} chunks {:?}", service, budget, chunks);
        }
    }

    /// Echo returns exactly its input, however it is chunked, and finishes
    /// with nothing left over.
    #[test]
    fn echo_output_is_its_input(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        settings in settings(usize::MAX),
    ) {
        let chunks = split(&input, &cuts);
        let run = drive(Service::Echo, &chunks, Settings { eof: true, ..settings });
        prop_assert_eq!(&run.out, &input);
        prop_assert!(run.rest.is_empty());
        prop_assert_eq!(run.verdict, Verdict::Close(sockloop::protocol::CloseReason::Peer));
    }
}

/// The driver itself is not vacuous: a known conversation, split at every
/// position, gives the known replies (`R` and `T` included).
#[test]
fn driver_reproduces_a_known_login_conversation() {
    let input = b"admin\nbad\nadmin\r\n12345\nT\nL\nR\nx";
    let settings = Settings {
        max_line: 4096,
        out_budget: usize::MAX,
        seed: 1,
        allow_remote_shutdown: false,
        eof: true,
    };
    let whole = drive(Service::Login, &[input], settings);
    let text = String::from_utf8(whole.out.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "ERR invalid credentials",
            "hello admin, welcome to the server",
            "2026-11-28T12:34:56.789+01:00",
        ]
    );
    assert_eq!(lines[3], sockloop::protocol::command::LANGUAGE);
    let n: u8 = lines[4].parse().unwrap();
    assert!((1..=10).contains(&n));
    assert_eq!(lines[5], "ERR unknown command (use R, T, L or E)");
    assert_eq!(lines.len(), 6);
    for cut in 0..=input.len() {
        let chunked = drive(Service::Login, &[&input[..cut], &input[cut..]], settings);
        assert_eq!(chunked, whole, "cut at {cut}");
    }
}
