//! What a connection may send now ([`Burst`]): how many requests, and each
//! one's send time on its grid (even, or a stage profile's). Made by
//! `Schedule::due` (`schedule.rs`).

use crate::load::stages::Profile;
use std::rc::Rc;

/// Requests a connection may send now: `count` of them, request `i` stamped
/// [`Burst::at`]`(i)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// How many.
    pub count: u32,
    /// The first one's send time (ns since the run started): its intended
    /// time in open loop, `now` in closed loop.
    pub first: u64,
    /// Where the rest lie.
    pub(super) grid: Grid,
}

/// The send times of a burst after its first.
#[derive(Debug, Clone)]
pub(super) enum Grid {
    /// Evenly: every `step` ns (`--rate`), or all at once (0: closed loop).
    Step(u64),
    /// On a profile's request grid ([`Profile`]): the first is grid request
    /// `j`, the next `j + n`, ... (`n` connections share the grid), the
    /// profile's times counted from `start`.
    Profile {
        profile: Rc<Profile>,
        start: u64,
        j: u64,
        n: u64,
    },
}

/// Two grids are the same: the same step, or the same profile (the one
/// instance) at the same place.
impl PartialEq for Grid {
    fn eq(&self, other: &Grid) -> bool {
        match (self, other) {
            (Grid::Step(a), Grid::Step(b)) => a == b,
            (
                Grid::Profile {
                    profile: p,
                    start: s,
                    j,
                    n,
                },
                Grid::Profile {
                    profile: q,
                    start: t,
                    j: k,
                    n: m,
                },
            ) => Rc::ptr_eq(p, q) && (s, j, n) == (t, k, m),
            (Grid::Step(_), Grid::Profile { .. }) | (Grid::Profile { .. }, Grid::Step(_)) => false,
        }
    }
}

impl Burst {
    /// `count` requests sent at `now` (closed loop, and `--idle`'s one).
    pub fn now(count: u32, now: u64) -> Burst {
        Burst {
            count,
            first: now,
            grid: Grid::Step(0),
        }
    }

    /// The send time of request `i` of the burst; `at(count)` is the
    /// intended time of the request after it ([`NEVER`] past the profile's
    /// last request).
    pub fn at(&self, i: u32) -> u64 {
        match &self.grid {
            Grid::Step(step) => self.first + u64::from(i) * step,
            Grid::Profile {
                profile,
                start,
                j,
                n,
            } => profile
                .request_time(j + u64::from(i) * n)
                .map_or(NEVER, |t| start + t),
        }
    }
}

/// An intended time that never comes: a connection whose share of a
/// profile's grid is used up.
pub const NEVER: u64 = u64::MAX;
