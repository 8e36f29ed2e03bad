//! Uptime and bars from state intervals, in one pass. Pure: the store hands in rows.
//!
//! Time is in unix seconds. A product-metric's history is a list of [`StateSpan`]s (its
//! run-length intervals); [`Span`]s of *coverage* say when a poller was watching. Time not
//! covered is **no data**: it never counts as up. Time in maintenance or unknown is
//! reported but left out of the uptime denominator. Degraded counts as available (the data
//! is usable with a warning) and is reported on its own.

use chrono::{FixedOffset, TimeZone};

use crate::model::State;

/// A half-open time range `[start, end)`, in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn new(start: i64, end: i64) -> Span {
        Span { start, end: end.max(start) }
    }

    pub fn len(&self) -> i64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clip(&self, other: &Span) -> Option<Span> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (end > start).then_some(Span { start, end })
    }
}

/// A state held over a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSpan {
    pub span: Span,
    pub state: State,
}

/// Seconds per state within a window, and seconds nobody watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub up: i64,
    pub degraded: i64,
    pub down: i64,
    pub maintenance: i64,
    pub unknown: i64,
    pub no_data: i64,
}

impl Tally {
    fn add(&mut self, state: State, seconds: i64) {
        *match state {
            State::Up => &mut self.up,
            State::Degraded => &mut self.degraded,
            State::Down => &mut self.down,
            State::Maintenance => &mut self.maintenance,
            State::Unknown => &mut self.unknown,
        } += seconds;
    }

    /// Percent of judged time (up, degraded, down) that was available; `None` with none.
    pub fn uptime(&self) -> Option<f64> {
        let judged = self.up + self.degraded + self.down;
        (judged > 0).then(|| (self.up + self.degraded) as f64 * 100.0 / judged as f64)
    }

    /// The worst state seen, if any time was covered.
    pub fn worst(&self) -> Option<State> {
        [
            (State::Down, self.down),
            (State::Degraded, self.degraded),
            (State::Unknown, self.unknown),
            (State::Maintenance, self.maintenance),
            (State::Up, self.up),
        ]
        .into_iter()
        .find(|(_, s)| *s > 0)
        .map(|(state, _)| state)
    }
}

/// The covered pieces of each state span: states intersected with coverage.
/// Both inputs sorted by start; coverage spans do not overlap.
pub fn covered(states: &[StateSpan], coverage: &[Span]) -> Vec<StateSpan> {
    let mut out = Vec::with_capacity(states.len());
    let mut first = 0;
    for s in states {
        while first < coverage.len() && coverage[first].end <= s.span.start {
            first += 1;
        }
        for c in &coverage[first..] {
            if c.start >= s.span.end {
                break;
            }
            if let Some(piece) = s.span.clip(c) {
                out.push(StateSpan { span: piece, state: s.state });
            }
        }
    }
    out
}

/// Coverage with `left_out` taken away: time under an incident closed as a false positive
/// counts as nobody watching, so it leaves uptime as maintenance does. Coverage sorted by
/// start; `left_out` in any order, overlapping or not.
pub fn excluding(coverage: &[Span], left_out: &[Span]) -> Vec<Span> {
    let mut left_out = left_out.to_vec();
    left_out.sort_by_key(|x| x.start);
    let mut out = Vec::with_capacity(coverage.len() + left_out.len());
    for c in coverage {
        let mut from = c.start;
        for x in &left_out {
            if x.end <= from || x.start >= c.end {
                continue;
            }
            if x.start > from {
                out.push(Span::new(from, x.start));
            }
            from = from.max(x.end);
            if from >= c.end {
                break;
            }
        }
        if from < c.end {
            out.push(Span::new(from, c.end));
        }
    }
    out
}

/// Seconds per state within `window`, from covered state pieces (see [`covered`]).
pub fn tally(pieces: &[StateSpan], window: Span) -> Tally {
    let mut tally = Tally::default();
    let mut judged = 0;
    for p in pieces {
        if let Some(part) = p.span.clip(&window) {
            tally.add(p.state, part.len());
            judged += part.len();
        }
    }
    tally.no_data = window.len() - judged;
    tally
}

/// Per-bucket tallies over consecutive buckets, in one pass over sorted pieces.
pub fn buckets(pieces: &[StateSpan], bounds: &[Span]) -> Vec<Tally> {
    let mut out = vec![Tally::default(); bounds.len()];
    let mut first = 0;
    for p in pieces {
        while first < bounds.len() && bounds[first].end <= p.span.start {
            first += 1;
        }
        for (i, b) in bounds.iter().enumerate().skip(first) {
            if b.start >= p.span.end {
                break;
            }
            if let Some(part) = p.span.clip(b) {
                out[i].add(p.state, part.len());
            }
        }
    }
    for (t, b) in out.iter_mut().zip(bounds) {
        let judged = t.up + t.degraded + t.down + t.maintenance + t.unknown;
        t.no_data = b.len() - judged;
    }
    out
}

/// The last `days` calendar days in `zone`, oldest first, the last one ending at `now`.
pub fn day_bounds(now: i64, days: usize, zone: FixedOffset) -> Vec<Span> {
    let local = zone.timestamp_opt(now, 0).single().expect("valid timestamp");
    let midnight = local.date_naive().and_hms_opt(0, 0, 0).expect("midnight");
    let today = zone.from_local_datetime(&midnight).single().expect("fixed offsets are unambiguous").timestamp();
    (0..days)
        .rev()
        .map(|back| {
            let start = today - back as i64 * 86_400;
            Span::new(start, (start + 86_400).min(now))
        })
        .collect()
}

/// The last `hours` clock hours, oldest first, the last one ending at `now`.
pub fn hour_bounds(now: i64, hours: usize) -> Vec<Span> {
    let this_hour = now - now.rem_euclid(3600);
    (0..hours)
        .rev()
        .map(|back| {
            let start = this_hour - back as i64 * 3600;
            Span::new(start, (start + 3600).min(now))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const D: i64 = 86_400;

    fn s(start: i64, end: i64, state: State) -> StateSpan {
        StateSpan { span: Span::new(start, end), state }
    }

    #[test]
    fn uptime_leaves_maintenance_unknown_and_gaps_out() {
        // A day: 10 h up, 2 h down, 3 h maintenance, 1 h unknown, 2 h degraded, and a 6 h
        // gap when no poller ran (state said "up" throughout the gap: it must not count).
        let states = [
            s(0, 10 * H, State::Up),
            s(10 * H, 12 * H, State::Down),
            s(12 * H, 15 * H, State::Maintenance),
            s(15 * H, 16 * H, State::Unknown),
            s(16 * H, 18 * H, State::Degraded),
            s(18 * H, D, State::Up),
        ];
        let coverage = [Span::new(0, 18 * H)];
        let t = tally(&covered(&states, &coverage), Span::new(0, D));
        assert_eq!(
            t,
            Tally { up: 10 * H, degraded: 2 * H, down: 2 * H, maintenance: 3 * H, unknown: H, no_data: 6 * H }
        );
        // (10 + 2) / (10 + 2 + 2) judged hours
        assert_eq!(t.uptime(), Some(12.0 * 100.0 / 14.0));
        assert_eq!(t.worst(), Some(State::Down));
    }

    #[test]
    fn no_judged_time_means_no_uptime() {
        let t = tally(&covered(&[s(0, D, State::Maintenance)], &[Span::new(0, D)]), Span::new(0, D));
        assert_eq!(t.uptime(), None);
        assert_eq!(tally(&[], Span::new(0, D)).no_data, D);
    }

    #[test]
    fn left_out_time_is_cut_from_coverage() {
        let coverage = [Span::new(0, 10 * H), Span::new(12 * H, 20 * H)];
        for (left_out, expected) in [
            (vec![], vec![(0, 10), (12, 20)]),
            (vec![Span::new(2 * H, 3 * H)], vec![(0, 2), (3, 10), (12, 20)]),
            // across a gap, overlapping each other, and past the end
            (vec![Span::new(9 * H, 13 * H), Span::new(12 * H, 14 * H)], vec![(0, 9), (14, 20)]),
            (vec![Span::new(0, 30 * H)], vec![]),
            (vec![Span::new(19 * H, 30 * H)], vec![(0, 10), (12, 19)]),
        ] {
            let got: Vec<(i64, i64)> =
                excluding(&coverage, &left_out).iter().map(|s| (s.start / H, s.end / H)).collect();
            assert_eq!(got, expected, "{left_out:?}");
        }
    }

    #[test]
    fn coverage_splits_a_long_state() {
        let pieces = covered(&[s(0, 10, State::Up)], &[Span::new(0, 2), Span::new(4, 6), Span::new(8, 20)]);
        let lens: Vec<i64> = pieces.iter().map(|p| p.span.len()).collect();
        assert_eq!(lens, [2, 2, 2]);
    }

    #[test]
    fn day_bars_follow_the_display_zone() {
        // now = 2026-11-24 01:30 UTC. In UTC+02:00 it is 03:30 on the 24th; the local day
        // began at 2026-11-23 22:00 UTC.
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap().timestamp();
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
        let days = day_bounds(now, 3, plus2);
        let day_start = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap().timestamp();
        assert_eq!(days[2], Span::new(day_start, now));
        assert_eq!(days[1], Span::new(day_start - D, day_start));
        // Down from 23:00 to 23:30 UTC (the 24th in +02:00, the 23rd in UTC).
        let down_at = day_start + H;
        let states =
            [s(0, down_at, State::Up), s(down_at, down_at + 1800, State::Down), s(down_at + 1800, now, State::Up)];
        let pieces = covered(&states, &[Span::new(0, now)]);
        let local = buckets(&pieces, &days);
        assert_eq!(
            local.iter().map(Tally::worst).collect::<Vec<_>>(),
            [Some(State::Up), Some(State::Up), Some(State::Down)]
        );
        let utc = buckets(&pieces, &day_bounds(now, 3, FixedOffset::east_opt(0).unwrap()));
        assert_eq!(
            utc.iter().map(Tally::worst).collect::<Vec<_>>(),
            [Some(State::Up), Some(State::Down), Some(State::Up)]
        );
    }

    #[test]
    fn a_day_without_coverage_is_no_data() {
        let now = 10 * D + 5 * H;
        let days = day_bounds(now, 3, FixedOffset::east_opt(0).unwrap());
        let pieces = covered(&[s(0, now, State::Up)], &[Span::new(0, 8 * D + 12 * H), Span::new(10 * D, now)]);
        let bars = buckets(&pieces, &days);
        assert_eq!(bars.iter().map(Tally::worst).collect::<Vec<_>>(), [Some(State::Up), None, Some(State::Up)]);
        assert_eq!(bars[0].no_data, 12 * H);
        assert_eq!(bars[2].up, 5 * H);
    }

    #[test]
    fn hour_bars_end_now() {
        let now = 5 * H + 1200;
        let hours = hour_bounds(now, 3);
        assert_eq!(hours, [Span::new(3 * H, 4 * H), Span::new(4 * H, 5 * H), Span::new(5 * H, now)]);
    }
}
