//! Unit tests of the load flags: each value's range, and the rules between
//! flags, as `sockloop load` parses them (clap included).

use super::*;

#[test]
fn source_ranges() {
    let r = parse_sources("127.0.0.2-127.0.0.4").unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[2], "127.0.0.4".parse::<IpAddr>().unwrap());
    assert_eq!(parse_sources("127.0.0.9").unwrap().len(), 1);
    assert!(parse_sources("127.0.0.9-127.0.0.2").is_err());
    assert!(parse_sources("::1").is_err());
    assert!(parse_sources("10.0.0.0-10.2.0.0").is_err());
}

/// The flags as `sockloop load` parses them (clap, value parsers and all).
fn parse(args: &[&str]) -> Result<LoadConfig, String> {
    #[derive(clap::Parser)]
    struct Load {
        #[command(flatten)]
        args: LoadArgs,
    }
    let argv = std::iter::once("load").chain(args.iter().copied());
    let parsed = <Load as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())?;
    LoadConfig::from_args(&parsed.args)
}

#[track_caller]
fn refused(args: &[&str], expected: &[&str]) {
    let error = parse(args).expect_err("refused");
    for word in expected {
        assert!(error.contains(word), "{args:?}: {error}");
    }
}

#[test]
fn values_out_of_range_name_the_flag_and_range() {
    refused(&["-d", "0"], &["--duration", "0.001..=604800 seconds"]);
    refused(&["-c", "-5"], &["--conns", "1..=10000000"]);
    refused(&["--workers", "-1"], &["--workers", "1..=1024"]);
    refused(&["--depth", "0"], &["--depth", "1..=1024"]);
    refused(&["--rate", "-2"], &["--rate", "0.001..=10000000"]);
    refused(&["--connect-rate", "-1"], &["--connect-rate", "0 (as fast"]);
    refused(
        &["--connect-timeout", "0"],
        &["--connect-timeout", "seconds"],
    );
    refused(
        &["--drain-timeout", "1e9"],
        &["--drain-timeout", "0 (no wait)"],
    );
    refused(
        &["--drain-timeout", "3601"],
        &["--drain-timeout", "0.001..=3600 seconds"],
    );
    assert!(parse(&["--drain-timeout", "3600"]).is_ok());
    refused(&["--size", "99999999999"], &["--size", "1..=1048576"]);
}

#[test]
fn rules_between_flags() {
    refused(
        &["--service", "udp-echo", "--size", "4"],
        &["--size", "8..=65507", "udp-echo"],
    );
    refused(
        &["--depth", "1024", "--size", "8192"],
        &["--depth x --size"],
    );
    refused(
        &["--workers", "3", "-c", "2"],
        &["--workers 3", "--conns (2)"],
    );
    refused(
        &["--workers", "4", "--connect-rate", "0.002"],
        &["--connect-rate"],
    );
    refused(&["--target", "127.0.0.1:0"], &["--target", "port 0"]);
    refused(&["--start-at", "1000"], &["--start-at", "in the past"]);
    refused(&["--start-at", "soon"], &["--start-at", "RFC 3339"]);
    refused(&["--label", ""], &["--label", "1..=128"]);
    let later = SystemTime::now() + Duration::from_secs(3600);
    let later = chrono::DateTime::<chrono::Utc>::from(later).to_rfc3339();
    assert_eq!(
        parse(&["--start-at", &later, "--label", "h1"]).map(|c| (c.start_at.is_some(), c.label)),
        Ok((true, Some("h1".into())))
    );
    assert!(parse(&["--service", "udp-echo", "--size", "8"]).is_ok());
    assert!(parse(&["--workers", "2", "-c", "2"]).is_ok());
}

#[test]
fn line_and_churn_rules() {
    refused(
        &["--send", "x"],
        &["--send and --expect are for --service line"],
    );
    refused(
        &["--service", "line", "--send", "x", "--expect", "*"],
        &["needs --target"],
    );
    let line = ["--service", "line", "--target", "127.0.0.1:9"];
    refused(
        &[&line[..], &["--send", "PING"]].concat(),
        &["--expect PATTERN"],
    );
    let big = format!("{{rand:256}}{}", "x".repeat(3_840));
    refused(
        &[
            &line[..],
            &["--send", &big, "--expect", "*", "--depth", "1024"],
        ]
        .concat(),
        &["--depth x the longest --send line (4097 bytes)"],
    );
    refused(&["--close", "reset"], &["--requests-per-conn"]);
    for open_loop in [
        &["--rate", "5"][..],
        &["--stages", "1s:10"],
        &["--find-max-rate"],
    ] {
        let args = [&["--requests-per-conn", "1"][..], open_loop].concat();
        refused(&args, &["cannot be used"]);
    }
    refused(
        &["--service", "udp-echo", "--requests-per-conn", "1"],
        &["TCP services"],
    );
    let c = parse(&["--requests-per-conn", "2", "--close", "reset"]).unwrap();
    assert_eq!((c.requests_per_conn, c.close), (Some(2), Close::Reset));
    let c = parse(&[&line[..], &["--send", "u{conn}", "--expect", "Hi u{conn}"]].concat());
    assert!(c.unwrap().line.is_some());
}

#[test]
fn target_port_defaults_to_the_service() {
    let c = parse(&["--service", "greet", "--target", "127.0.0.2"]).unwrap();
    assert_eq!(c.target, "127.0.0.2:7001".parse().unwrap());
    let c = parse(&["--target", "[::1]:9"]).unwrap();
    assert_eq!(c.target, "[::1]:9".parse().unwrap());
}

#[test]
fn users_follow_the_login_rule_and_are_never_echoed() {
    assert_eq!(
        parse_user(" bob : pa:ss ").unwrap(),
        ("bob".into(), "pa:ss".into())
    );
    assert!(parse_user("bob").is_err());
    assert!(parse_user(" :pw").is_err());
    let long = format!("{}:s3cret", "n".repeat(MAX_USER_NAME + 1));
    let error = parse_user(&long).unwrap_err();
    assert!(
        error.contains("--user") && !error.contains("s3cret"),
        "{error}"
    );
    assert!(!parse_user("s3cret").unwrap_err().contains("s3cret"));
}
