//! `--send` templates and `--expect` patterns of the line scenario
//! (`line.rs`), parsed once at start-up: text with placeholders, rendered
//! into request lines and matched against reply lines without allocating.
//!
//! # Format
//! ```text
//! template    = *( text / "{conn}" / "{seq}" / "{rand:" N "}" / "{{" / "}}" )
//! pattern     = "*"                      ; any line
//!             / template-no-rand [ "*" ] ; exact, or a prefix with the "*"
//! ```
//! - `{conn}`: the connection's number in this generator process (0, 1, 2,
//!   ..., mod 2^32; replacements under `--requests-per-conn` count on),
//!   decimal;
//! - `{seq}`: the request's number on its connection (0, 1, 2, ...);
//! - `{rand:N}`: N random letters and digits, 1 <= N <= [`MAX_RAND`], from a
//!   per-run seed, the connection and the request: no two requests alike,
//!   nothing to remember (`--expect` cannot use it: the verifier would have
//!   to keep what was sent);
//! - `{{` and `}}`: a literal brace.
//!
//! A template is one line: no CR, LF or NUL in it. Anything else between
//! braces is an error at parse time, never sent as is.

use super::{MAX_DIGITS, decimal, push_decimal};

/// Longest `N` of `{rand:N}`: a random token long enough for any key or
/// nonce a line protocol wants.
pub const MAX_RAND: usize = 256;

/// Longest rendered request line (without its `\n`), counting each `{conn}`
/// and `{seq}` at their widest (20 digits). A line protocol's request is a
/// command, not a payload (`--service echo` is for payloads); it also keeps
/// `--depth` x request within `config::MAX_BURST_BYTES`.
pub const MAX_LINE: usize = 4096;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes as they are.
    Text(Vec<u8>),
    /// The connection's number.
    Conn,
    /// The request's number on its connection.
    Seq,
    /// This many random alphanumerics.
    Rand(usize),
}

/// A parsed `--send` template (or the text part of an `--expect` pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A parsed `--expect` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `*`: any line is a right reply.
    Any,
    /// The reply must be exactly the rendered template.
    Exact(Template),
    /// The reply must start with the rendered template (`PREFIX*`).
    Prefix(Template),
}

/// What a placeholder renders from: the connection, the request, and the
/// run's seed for `{rand:N}`.
#[derive(Debug, Clone, Copy)]
pub struct Vars {
    /// `{conn}`.
    pub conn: u64,
    /// `{seq}`.
    pub seq: u64,
    /// The run's seed.
    pub seed: u64,
}

impl Template {
    /// Parses `--send`'s value (`flag` names it in errors).
    pub fn parse(s: &str, flag: &str) -> Result<Template, String> {
        if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!(
                "{flag}: must be one line (no CR, LF or NUL: the generator ends it with LF)"
            ));
        }
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find(['{', '}']) {
            text.extend_from_slice(&rest.as_bytes()[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                text.push(tail.as_bytes()[0]);
                rest = after;
                continue;
            }
            if tail.starts_with('}') {
                return Err(format!(
                    "{flag}: a lone '}}' (write '}}}}' for a literal one)"
                ));
            }
            let Some(close) = tail.find('}') else {
                return Err(format!(
                    "{flag}: '{{' without its '}}' (write '{{{{' for a literal one)"
                ));
            };
            let piece = placeholder(&tail[1..close], flag)?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
            rest = &tail[close + 1..];
        }
        text.extend_from_slice(rest.as_bytes());
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let template = Template { pieces };
        if template.max_len() > MAX_LINE {
            return Err(format!(
                "{flag}: renders up to {} bytes, more than {MAX_LINE} (each {{conn}} and {{seq}} \
                 counts as {MAX_DIGITS})",
                template.max_len()
            ));
        }
        Ok(template)
    }

    /// The longest line it renders.
    pub fn max_len(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                Piece::Conn | Piece::Seq => MAX_DIGITS,
                Piece::Rand(n) => *n,
            })
            .sum()
    }

    /// Whether it has a `{rand:N}`.
    fn has_rand(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Rand(_)))
    }

    /// Appends the rendered line (without `\n`) to `out`.
    pub fn render(&self, vars: Vars, out: &mut Vec<u8>) {
        for (i, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Conn => push_decimal(out, vars.conn),
                Piece::Seq => push_decimal(out, vars.seq),
                Piece::Rand(n) => push_random(out, *n, vars, i as u64),
            }
        }
    }

    /// If `line` starts with the rendered template: the rest of it.
    /// (`{rand:N}` never gets here: patterns refuse it.)
    fn strip_from<'a>(&self, line: &'a [u8], vars: Vars) -> Option<&'a [u8]> {
        let mut rest = line;
        for piece in &self.pieces {
            rest = match piece {
                Piece::Text(t) => rest.strip_prefix(t.as_slice())?,
                Piece::Conn | Piece::Seq => {
                    let n = if *piece == Piece::Conn {
                        vars.conn
                    } else {
                        vars.seq
                    };
                    strip_decimal(rest, n)?
                }
                Piece::Rand(_) => return None,
            };
        }
        Some(rest)
    }
}

impl Expect {
    /// Parses `--expect`'s value (`flag` names it in errors): `*`, exact, or
    /// `PREFIX*`; no `{rand:N}`, and nothing longer than `max_reply` can
    /// ever match.
    pub fn parse(s: &str, flag: &str, max_reply: usize) -> Result<Expect, String> {
        if s == "*" {
            return Ok(Expect::Any);
        }
        let (text, prefix) = match s.strip_suffix('*') {
            Some(head) => (head, true),
            None => (s, false),
        };
        let template = Template::parse(text, flag)?;
        if template.has_rand() {
            return Err(format!(
                "{flag}: {{rand:N}} cannot be expected (a reply is checked against what it \
                 must be, and random text is not remembered); use a prefix: 'TEXT*'"
            ));
        }
        let shortest: usize = template
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                _ => 1,
            })
            .sum();
        if shortest > max_reply {
            return Err(format!(
                "{flag}: longer than the longest reply line read ({max_reply} bytes)"
            ));
        }
        Ok(if prefix {
            Expect::Prefix(template)
        } else {
            Expect::Exact(template)
        })
    }

    /// Whether reply `line` (without its line end) is right for `vars`.
    pub fn matches(&self, line: &[u8], vars: Vars) -> bool {
        match self {
            Expect::Any => true,
            Expect::Exact(t) => t.strip_from(line, vars).is_some_and(<[u8]>::is_empty),
            Expect::Prefix(t) => t.strip_from(line, vars).is_some(),
        }
    }
}

/// The piece a `{...}` stands for (`inner` is what is between the braces).
fn placeholder(inner: &str, flag: &str) -> Result<Piece, String> {
    match (inner, inner.strip_prefix("rand:")) {
        ("conn", _) => Ok(Piece::Conn),
        ("seq", _) => Ok(Piece::Seq),
        (_, Some(n)) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_RAND).contains(&n) => Ok(Piece::Rand(n)),
            _ => Err(format!(
                "{flag}: '{{rand:{n}}}': N must be a number 1..={MAX_RAND}"
            )),
        },
        (_, None) => Err(format!(
            "{flag}: unknown placeholder '{{{inner}}}' (known: {{conn}}, {{seq}}, {{rand:N}}; \
             '{{{{' is a literal brace)"
        )),
    }
}

/// If `line` starts with `n` in decimal (and no further digit: `{seq}` is 1
/// must not match `12`): the rest. No allocation: digits on the stack.
fn strip_decimal(line: &[u8], n: u64) -> Option<&[u8]> {
    let rest = line.strip_prefix(decimal(&mut [0; MAX_DIGITS], n))?;
    (!rest.first().is_some_and(u8::is_ascii_digit)).then_some(rest)
}

/// The 62 characters `{rand:N}` draws from.
const ALPHANUMERIC: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Appends `n` alphanumerics drawn from (seed, conn, seq, which
/// placeholder): a splitmix64 stream, so each request's are different and
/// no generator state is kept.
fn push_random(out: &mut Vec<u8>, n: usize, vars: Vars, which: u64) {
    let mut state = vars.seed
        ^ vars.conn.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ vars.seq.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ which.wrapping_mul(0x1656_67B1_9E37_79F9);
    for _ in 0..n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 2^64 mod 62 is tiny next to 2^64: the bias is negligible.
        out.push(ALPHANUMERIC[(z % 62) as usize]);
    }
}

#[cfg(test)]
mod tests;
