//! Unit tests of the login state machine, grouped by state, with small
//! fixtures; and of its throttled path, with the throttle lent in.

use super::*;
use crate::protocol::testing::{fixed_clock, with_ctx};
use crate::protocol::throttle::LoginThrottle;

/// Fixture: a login from 192.0.2.1 that has received the user `admin`.
fn awaiting_password() -> Login {
    Login {
        state: LoginState::AwaitPassword {
            user: Box::new(b"admin"[..].into()),
        },
        ..Login::from_peer([192, 0, 2, 1].into())
    }
}

#[track_caller]
fn send(login: &mut Login, line: &[u8]) -> (Vec<u8>, Verdict) {
    with_ctx(false, |ctx| {
        let mut out = Vec::new();
        let v = login.on_line(line, ctx, &mut out);
        (out, v)
    })
}

// --- AwaitUser ---

#[test]
fn user_line_moves_to_await_password_silently() {
    let mut login = Login::from_peer([192, 0, 2, 1].into());
    assert_eq!(send(&mut login, b" admin "), (vec![], Verdict::Continue));
    assert_eq!(login, awaiting_password());
}

// --- AwaitPassword ---

#[test]
fn right_password_welcomes_and_enters_command_mode() {
    let mut login = awaiting_password();
    let (out, v) = send(&mut login, b"12345");
    assert_eq!(out, b"hello admin, welcome to the server\n");
    assert_eq!(v, Verdict::Continue);
    assert_eq!(login.state(), &LoginState::Commands);
}

#[test]
fn wrong_password_errs_and_returns_to_await_user() {
    let mut login = awaiting_password();
    assert_eq!(
        send(&mut login, b"1234"),
        (ERR_INVALID.to_vec(), Verdict::Continue)
    );
    assert_eq!(login.state(), &LoginState::AwaitUser);
    assert_eq!(login.failures(), 1);
}

#[test]
fn wrong_user_with_right_password_is_rejected() {
    let mut login = Login::new();
    send(&mut login, b"root");
    assert_eq!(send(&mut login, b"12345").0, ERR_INVALID);
}

#[test]
fn third_failure_closes_with_too_many_attempts() {
    let mut login = Login::new();
    for _ in 0..2 {
        send(&mut login, b"admin");
        assert_eq!(send(&mut login, b"nope").0, ERR_INVALID);
    }
    send(&mut login, b"admin");
    assert_eq!(
        send(&mut login, b"nope"),
        (
            ERR_TOO_MANY.to_vec(),
            Verdict::Close(CloseReason::TooManyFailures)
        )
    );
}

#[test]
fn success_after_failures_still_logs_in() {
    let mut login = Login::new();
    for _ in 0..2 {
        send(&mut login, b"admin");
        send(&mut login, b"bad");
    }
    send(&mut login, b"admin");
    assert_eq!(
        send(&mut login, b"12345").0,
        b"hello admin, welcome to the server\n"
    );
}

// --- Commands ---

/// `E` stops the server only with the flag on (`allowed`) and from a
/// loopback peer; anything else closes only this connection.
#[test]
fn e_stops_the_server_only_from_loopback_when_allowed() {
    let bye = Verdict::Close(CloseReason::Bye);
    for (peer, allowed, verdict) in [
        ("127.0.0.1", true, Verdict::Shutdown),
        ("::1", true, Verdict::Shutdown),
        ("::ffff:127.0.0.1", true, Verdict::Shutdown),
        ("127.0.0.1", false, bye),
        ("192.0.2.1", true, bye),
        ("2001:db8::1", true, bye),
    ] {
        let mut login = Login {
            state: LoginState::Commands,
            ..Login::from_peer(peer.parse().unwrap())
        };
        with_ctx(allowed, |ctx| {
            let mut out = Vec::new();
            assert_eq!(login.on_line(b"E", ctx, &mut out), verdict);
            assert_eq!(out, b"BYE\n");
        });
    }
}

#[test]
fn command_mode_answers_commands_and_bye_closes() {
    let mut login = Login {
        state: LoginState::Commands,
        ..Login::new()
    };
    assert_eq!(send(&mut login, b"x").0, command::ERR_UNKNOWN);
    assert_eq!(
        send(&mut login, b"e"),
        (b"BYE\n".to_vec(), Verdict::Close(CloseReason::Bye))
    );
}

// --- Names: bounded, never traced ---

#[test]
fn an_over_long_user_name_is_not_kept_and_fails() {
    let mut login = Login::new();
    let long = vec![b'a'; MAX_USER_NAME + 1];
    send(&mut login, &long);
    match login.state() {
        LoginState::AwaitPassword { user } => assert!(user.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(send(&mut login, b"12345").0, ERR_INVALID);
}

/// A password typed where the name goes must not reach a trace.
#[test]
fn the_state_shows_a_user_line_by_its_length_only() {
    let mut login = Login::new();
    send(&mut login, b"hunter2");
    assert_eq!(
        format!("{:?}", login.state()),
        "AwaitPassword { user: 7 bytes }"
    );
}

// --- Throttled (with a gate) ---

/// Feeds `line` at `now`, lending `throttle` to the login.
#[track_caller]
fn send_gated(
    login: &mut Login,
    throttle: &mut LoginThrottle,
    now: u64,
    line: &[u8],
) -> (Vec<u8>, Verdict, Option<Hold>) {
    let mut rng = rand::SeedableRng::seed_from_u64(7);
    let credentials = Credentials::default_tutorial();
    let exposition = String::new;
    let mut ctx = Ctx::new(fixed_clock, &mut rng, &credentials, &exposition);
    ctx.now = now;
    ctx.login_throttle = Some(throttle);
    let mut out = Vec::new();
    let v = login.on_line(line, &mut ctx, &mut out);
    (out, v, ctx.hold)
}

#[test]
fn a_failure_reply_waits_for_the_penalty_and_the_next_check_too() {
    let mut throttle = LoginThrottle::default();
    let mut login = awaiting_password();
    let (out, v, hold) = send_gated(&mut login, &mut throttle, 5, b"nope");
    assert_eq!(
        (out, v, hold),
        (
            ERR_INVALID.to_vec(),
            Verdict::Continue,
            Some(Hold::Until { at: 1005 })
        )
    );
    // A password from the same source before then is not even looked at.
    let mut other = awaiting_password();
    let (out, v, hold) = send_gated(&mut other, &mut throttle, 500, b"12345");
    assert_eq!((out, v), (vec![], Verdict::Continue));
    assert_eq!(hold, Some(Hold::Retry { at: 1005 }));
    assert!(other.is_held());
    other.end_hold();
    assert_eq!(other, awaiting_password(), "still awaiting its password");
    // At the end of the window it is checked, and the right one passes.
    let (out, _, hold) = send_gated(&mut other, &mut throttle, 1005, b"12345");
    assert_eq!(out, b"hello admin, welcome to the server\n");
    assert_eq!(hold, None, "a success is never held");
}

#[test]
fn a_source_that_never_failed_is_never_held() {
    let mut throttle = LoginThrottle::default();
    let mut login = awaiting_password();
    let (out, _, hold) = send_gated(&mut login, &mut throttle, 0, b"12345");
    assert_eq!((out.is_empty(), hold), (false, None));
}
