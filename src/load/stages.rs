//! `--stages`: a load profile of linear ramps ([`Stages`]), and the one
//! rate function of time the open-loop schedule paces by ([`Profile`]).
//!
//! # Format
//! ```text
//! stages = stage *( "," stage )
//! stage  = duration ":" target
//! duration = number [ "ms" / "s" / "m" / "h" ]     ; bare number: seconds
//! target = number                                  ; >= 0
//! ```
//! `10s:1000,30s:5000,10s:0`: from 0, ramp linearly to 1,000 over 10 s, to
//! 5,000 over the next 30 s, down to 0 over the last 10 s. The target is
//! the TOTAL request rate of the run (all connections, all `--workers`),
//! or with `--idle` the number of open connections.
//!
//! # The rate function
//! The profile's rate `r(t)` is piecewise linear, so the requests it asks
//! for by `t`, `C(t) = ∫ r`, is piecewise quadratic and has a closed-form
//! inverse ([`Profile::time_of`]). The schedule (`schedule.rs`) places the
//! run's requests on one grid: request `j` (0-based, across all
//! connections) is intended at `C⁻¹(j + ½)` (the middle of the j-th unit of
//! the integral; a profile at rate 0 asks for nothing), and connection `i`
//! of `n` sends requests `i, i + n, i + 2n, ...`. At a constant rate that is
//! the even grid `--rate` uses; on a ramp the same grid bends.
//!
//! Sans-IO: plain numbers in, times out (ns from the window's start).

use std::fmt;

/// Most stages in a profile. Each keeps one latency histogram of the
/// report (about 360 KiB: `measurements.rs`), so 32 cost ~12 MiB at most;
/// k6 scenarios rarely use more than ten.
pub const MAX_STAGES: usize = 32;

/// Highest total target: 100 million requests per second (far above what
/// one host's loopback answers), or connections (`--idle`; the connection
/// count is also capped by `--conns`). It keeps one request a nanosecond
/// apart at most, so a time maps back to its request exactly.
pub const MAX_TARGET: f64 = 1e8;

/// Longest profile: `--duration`'s limit (7 days).
pub const MAX_PROFILE_SECS: f64 = crate::flags::MAX_SECS;

/// One stage: over `secs`, ramp linearly from the previous stage's target
/// (0 before the first) to `target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Its length, in seconds.
    pub secs: f64,
    /// Where it ends: total requests per second (or open connections).
    pub target: f64,
}

/// A parsed `--stages` value.
#[derive(Debug, Clone, PartialEq)]
pub struct Stages(pub Vec<Stage>);

impl Stages {
    /// Parses the [`Format`](self) above; errors name the stage and say the
    /// form (clap prefixes the flag).
    pub fn parse(s: &str) -> Result<Stages, String> {
        let form = "expected DURATION:TARGET[,DURATION:TARGET...], e.g. 10s:1000,30s:5000,10s:0";
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() > MAX_STAGES {
            return Err(format!(
                "{} stages, at most {MAX_STAGES} allowed",
                parts.len()
            ));
        }
        let mut stages = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let n = i + 1;
            let (secs, target) = part
                .split_once(':')
                .ok_or_else(|| format!("stage {n} '{part}': {form}"))?;
            let secs = parse_duration(secs.trim())
                .map_err(|e| format!("stage {n} '{part}': duration {e}"))?;
            let target = match target.trim().parse::<f64>() {
                Ok(t) if (0.0..=MAX_TARGET).contains(&t) => t,
                _ => {
                    return Err(format!(
                        "stage {n} '{part}': the target must be a number in 0..={MAX_TARGET}"
                    ));
                }
            };
            stages.push(Stage { secs, target });
        }
        let total: f64 = stages.iter().map(|s| s.secs).sum();
        if total > MAX_PROFILE_SECS {
            return Err(format!(
                "the stages last {total} s, at most {MAX_PROFILE_SECS} s allowed"
            ));
        }
        Ok(Stages(stages))
    }

    /// How long the whole profile lasts (s).
    pub fn secs(&self) -> f64 {
        self.0.iter().map(|s| s.secs).sum()
    }

    /// The highest target.
    pub fn peak(&self) -> f64 {
        self.0.iter().map(|s| s.target).fold(0.0, f64::max)
    }

    /// The same profile with every target times `share` (a worker's part).
    pub fn scaled(&self, share: f64) -> Stages {
        Stages(
            self.0
                .iter()
                .map(|s| Stage {
                    secs: s.secs,
                    target: s.target * share,
                })
                .collect(),
        )
    }
}

/// Back to the flag's form (f64's `Display` round-trips exactly): how a
/// worker gets its share.
impl fmt::Display for Stages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}s:{}", s.secs, s.target)?;
        }
        Ok(())
    }
}

/// `10s`, `1.5m`, `250ms`, `1h`, or a bare number of seconds; at least the
/// timer resolution (1 ms).
fn parse_duration(s: &str) -> Result<f64, String> {
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let min = crate::flags::TIMER_RESOLUTION_SECS;
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v * scale >= min => Ok(v * scale),
        _ => Err(format!(
            "'{s}' must be a number of seconds of at least {min} (units ms, s, m, h)"
        )),
    }
}

/// One stage placed in time, with what came before it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Start, from the profile's start (ns).
    start: u64,
    /// Length (ns, at least 1).
    len: u64,
    /// Rate at its start and end (per second).
    from: f64,
    to: f64,
    /// Requests asked for before it.
    before: f64,
}

impl Segment {
    /// Requests it asks for over its first `ns` nanoseconds.
    fn count(&self, ns: u64) -> f64 {
        let tau = ns.min(self.len) as f64 / 1e9;
        let secs = self.len as f64 / 1e9;
        self.from * tau + (self.to - self.from) * tau * tau / (2.0 * secs)
    }

    /// Requests it asks for in all.
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.len as f64 / 1e9
    }

    /// When (ns into it) its count reaches `d` (`0 < d <= area`).
    fn time_of(&self, d: f64) -> u64 {
        let secs = self.len as f64 / 1e9;
        let a = (self.to - self.from) / (2.0 * secs);
        // The root of a τ² + from τ = d, in the form that neither cancels
        // nor divides by a = 0 (a constant rate).
        let root = (self.from * self.from + 4.0 * a * d).max(0.0).sqrt();
        let tau = 2.0 * d / (self.from + root);
        // Up to the next ns: at the time returned the count has reached d.
        ((tau * 1e9).ceil() as u64).min(self.len)
    }
}

/// The rate function of a profile, with its times in ns from its start.
#[derive(Debug, Clone)]
pub struct Profile {
    segments: Vec<Segment>,
    total: f64,
}

impl Profile {
    /// The profile of `stages`.
    pub fn new(stages: &Stages) -> Profile {
        let mut segments = Vec::with_capacity(stages.0.len());
        let (mut start, mut from, mut before) = (0u64, 0.0, 0.0);
        for stage in &stages.0 {
            let len = ((stage.secs * 1e9).round() as u64).max(1);
            let segment = Segment {
                start,
                len,
                from,
                to: stage.target,
                before,
            };
            before += segment.area();
            segments.push(segment);
            start += len;
            from = stage.target;
        }
        Profile {
            segments,
            total: before,
        }
    }

    /// One stage at `rate` for `secs` from the start: a capacity search's
    /// step, a constant rate on the same grid.
    pub fn constant(rate: f64, secs: f64) -> Profile {
        let mut p = Profile::new(&Stages(vec![Stage { secs, target: rate }]));
        if let Some(s) = p.segments.first_mut() {
            s.from = rate;
        }
        p.total = p.segments.iter().map(Segment::area).sum();
        p
    }

    /// Its length (ns).
    pub fn len(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.start + s.len)
    }

    /// Whether it has no stage.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The stage at `t` (ns from the start); `None` past the end.
    pub fn stage_at(&self, t: u64) -> Option<usize> {
        self.segments
            .iter()
            .position(|s| t >= s.start && t < s.start + s.len)
    }

    /// When stage `i` starts and how long it lasts (ns).
    pub fn stage_span(&self, i: usize) -> Option<(u64, u64)> {
        self.segments.get(i).map(|s| (s.start, s.len))
    }

    /// The rate asked for at `t` (per second; 0 past the end).
    pub fn rate_at(&self, t: u64) -> f64 {
        match self.stage_at(t).and_then(|i| self.segments.get(i)) {
            Some(s) => {
                let frac = (t - s.start) as f64 / s.len as f64;
                s.from + (s.to - s.from) * frac
            }
            None => 0.0,
        }
    }

    /// Requests asked for from the start until `t`: `C(t)`.
    pub fn count_at(&self, t: u64) -> f64 {
        match self.segments.iter().rev().find(|s| t >= s.start) {
            Some(s) => s.before + s.count(t - s.start),
            None => 0.0,
        }
    }

    /// All the requests it asks for.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The first time `C(t)` reaches `c` (`c > 0`); `None` if it never does.
    pub fn time_of(&self, c: f64) -> Option<u64> {
        if c > self.total || c <= 0.0 {
            return None;
        }
        // The first segment that ends at or past c; empty ones (rate 0
        // throughout) never hold it.
        let s = self
            .segments
            .iter()
            .find(|s| s.before + s.area() >= c && s.area() > 0.0)?;
        Some(s.start + s.time_of(c - s.before))
    }

    /// The time of grid request `j` (see the module docs): `C⁻¹(j + ½)`.
    pub fn request_time(&self, j: u64) -> Option<u64> {
        self.time_of(j as f64 + 0.5)
    }

    /// How many grid requests are intended at or before `t`.
    pub fn requests_by(&self, t: u64) -> u64 {
        // Times are rounded up to the ns, so at a request's own time the
        // count has reached it; the epsilon absorbs floating-point error.
        let c = self.count_at(t) + 0.5 + 1e-6;
        c.floor().max(0.0) as u64
    }
}

#[cfg(test)]
mod tests;
