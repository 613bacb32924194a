//! Unit tests of templates and patterns: rendering, matching, and every
//! refusal with its reason.

use super::*;

const V: Vars = Vars {
    conn: 7,
    seq: 12,
    seed: 1,
};

#[track_caller]
fn render(t: &str, vars: Vars) -> String {
    let mut out = Vec::new();
    Template::parse(t, "--send").unwrap().render(vars, &mut out);
    String::from_utf8(out).unwrap()
}

#[track_caller]
fn refused(t: &str, words: &[&str]) {
    let e = Template::parse(t, "--send").unwrap_err();
    for w in words {
        assert!(e.contains(w), "{t}: {e}");
    }
}

#[test]
fn placeholders_render_and_braces_escape() {
    assert_eq!(render("u{conn}", V), "u7");
    assert_eq!(render("GET k{seq} c{conn}", V), "GET k12 c7");
    assert_eq!(render("{{json}} {{{seq}}}", V), "{json} {12}");
    assert_eq!(render("", V), "");
    assert_eq!(render("PING", V), "PING");
}

#[test]
fn rand_is_alphanumeric_of_its_length_and_differs_by_request() {
    let a = render("{rand:16}", V);
    assert_eq!(a.len(), 16);
    assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()), "{a}");
    assert_eq!(a, render("{rand:16}", V), "deterministic");
    assert_ne!(a, render("{rand:16}", Vars { seq: 13, ..V }));
    assert_ne!(a, render("{rand:16}", Vars { conn: 8, ..V }));
    let two = render("{rand:8}-{rand:8}", V);
    assert_ne!(two[..8], two[9..], "each placeholder its own");
}

#[test]
fn bad_templates_are_refused_with_a_reason() {
    refused("a{nope}", &["--send", "unknown placeholder '{nope}'"]);
    refused("a{conn", &["without its '}'"]);
    refused("a}b", &["lone '}'", "'}}'"]);
    refused("{rand:0}", &["1..=256"]);
    refused("{rand:257}", &["1..=256"]);
    refused("{rand:x}", &["1..=256"]);
    refused("a\nb", &["one line"]);
    refused("a\rb", &["one line"]);
    refused(&"x".repeat(MAX_LINE + 1), &["more than 4096"]);
    refused(&"{rand:256}".repeat(17), &["more than 4096"]);
    assert!(Template::parse(&"x".repeat(MAX_LINE), "--send").is_ok());
}

#[track_caller]
fn expect(p: &str) -> Expect {
    Expect::parse(p, "--expect", 256).unwrap()
}

#[test]
fn patterns_match_exactly_by_prefix_or_anything() {
    let hi = expect("Hi u{conn}");
    assert!(hi.matches(b"Hi u7", V));
    assert!(!hi.matches(b"Hi u7 ", V));
    assert!(!hi.matches(b"Hi u70", V));
    assert!(!hi.matches(b"Hi u8", V));
    assert!(!hi.matches(b"Hi u", V));
    let seq = expect("{seq}:{conn}");
    assert!(seq.matches(b"12:7", V));
    assert!(!seq.matches(b"1:7", V), "a shorter number");
    assert!(!seq.matches(b"121:7", V), "a longer number");
    let pong = expect("+PONG");
    assert!(pong.matches(b"+PONG", V) && !pong.matches(b"+PONGS", V));
    let prefix = expect("+OK*");
    assert!(prefix.matches(b"+OK", V) && prefix.matches(b"+OK then", V));
    assert!(!prefix.matches(b"-ERR", V));
    let prefix_num = expect("v{seq}*");
    assert!(prefix_num.matches(b"v12 ok", V));
    assert!(
        !prefix_num.matches(b"v123", V),
        "{{seq}} ends at a non-digit"
    );
    assert!(expect("*").matches(b"", V) && expect("*").matches(b"anything", V));
    assert!(expect("").matches(b"", V) && !expect("").matches(b"x", V));
    assert!(expect("a*b").matches(b"a*b", V), "a '*' inside is literal");
}

#[test]
fn bad_patterns_are_refused_with_a_reason() {
    let e = Expect::parse("x{rand:4}", "--expect", 256).unwrap_err();
    assert!(e.contains("--expect") && e.contains("{rand:N}"), "{e}");
    let e = Expect::parse("{what}*", "--expect", 256).unwrap_err();
    assert!(e.contains("unknown placeholder"), "{e}");
    let e = Expect::parse(&"x".repeat(257), "--expect", 256).unwrap_err();
    assert!(e.contains("256 bytes"), "{e}");
    assert!(Expect::parse(&"x".repeat(256), "--expect", 256).is_ok());
}
