//! A product's metrics while the rules add to them: contributions per metric, the worst
//! of which wins, and what an unjudged metric becomes.

use super::Inputs;
use crate::model::{Judgment, Metric, State, Verdict};

/// What a metric becomes when no rule spoke for it.
#[derive(Debug, Clone)]
pub enum Fallback {
    /// Up with this reason (the run succeeded and nothing said otherwise).
    Up(String),
    /// Up when the metric has no tests at all; kept as before when its tests did not run.
    UpWhenUntested(String),
    /// Unknown with this reason.
    Unknown(String),
    /// Keep the previous state; unknown without one.
    Carry,
}

const NOT_CHECKED: &str = "not checked in the latest run";

pub struct Sheet<'a> {
    metrics: &'a [Metric],
    /// What rules said, by the metric's position in `metrics`.
    found: Vec<(usize, Verdict)>,
    /// Per metric, in the order of `metrics`: a handful, so kept in a vector rather than
    /// maps (a product's evaluation allocated a tree node per map before).
    tallies: Vec<Tally>,
    note: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    passed: usize,
    /// The metric has tests in the project, whether or not they ran.
    has_tests: bool,
    /// At least one of its tests gave a result this run.
    judged: bool,
}

impl<'a> Sheet<'a> {
    pub fn new(metrics: &'a [Metric]) -> Sheet<'a> {
        Sheet { metrics, found: Vec::new(), tallies: vec![Tally::default(); metrics.len()], note: None }
    }

    fn position(&self, metric: &Metric) -> Option<usize> {
        self.metrics.iter().position(|m| m == metric)
    }

    /// The tally of a metric the product shows; others are not kept.
    fn tally(&mut self, metric: &Metric) -> Option<&mut Tally> {
        self.position(metric).map(|at| &mut self.tallies[at])
    }

    /// A rule's say on a metric. Metrics the product does not show are ignored.
    pub fn add(&mut self, metric: Metric, state: State, reason: String) {
        if let Some(at) = self.position(&metric) {
            self.found.push((at, Verdict::new(state, reason)));
        }
    }

    /// A test of this metric gave a result (other than a pass, which `passed` records).
    pub fn judged(&mut self, metric: &Metric) {
        if let Some(tally) = self.tally(metric) {
            tally.judged = true;
        }
    }

    pub fn passed(&mut self, metric: &Metric) {
        if let Some(tally) = self.tally(metric) {
            tally.judged = true;
            tally.passed += 1;
        }
    }

    /// The metric has tests in the project, whether or not they ran.
    pub fn has_tests(&mut self, metric: &Metric) {
        if let Some(tally) = self.tally(metric) {
            tally.has_tests = true;
        }
    }

    /// Why the metrics that fall back were not judged this time.
    pub fn note_all(&mut self, note: String) {
        self.note = Some(note);
    }

    pub fn finish(mut self, inputs: &Inputs<'_>, fallback: &Fallback) -> Vec<(Metric, Verdict)> {
        // Grouped by metric, each group in the order the rules spoke (the sort is stable).
        let mut found = std::mem::take(&mut self.found);
        found.sort_by_key(|(at, _)| *at);
        let mut found = found.into_iter().peekable();
        self.metrics
            .iter()
            .zip(&self.tallies)
            .enumerate()
            .map(|(at, (metric, tally))| {
                let mut worst = Worst::default();
                while let Some((_, verdict)) = found.next_if(|(of, _)| *of == at) {
                    worst.add(verdict);
                }
                if tally.passed > 0 && worst.would_keep(State::Up) {
                    let n = tally.passed;
                    worst.add(Verdict::new(
                        State::Up,
                        if n == 1 { "1 test passed".into() } else { format!("{n} tests passed") },
                    ));
                }
                let verdict = match worst.finish() {
                    // Up for other reasons (the DAG is active, the table was rebuilt), while
                    // the metric's own tests did not run: say so rather than imply they passed.
                    Some(mut verdict) => {
                        if verdict.state == State::Up && tally.has_tests && !tally.judged {
                            verdict.reason.push_str("; its tests were not checked in the latest run");
                        }
                        verdict
                    }
                    None => self.fall_back(inputs, tally, metric, fallback),
                };
                (metric.clone(), verdict)
            })
            .collect()
    }

    fn fall_back(&self, inputs: &Inputs<'_>, tally: &Tally, metric: &Metric, fallback: &Fallback) -> Verdict {
        match fallback {
            Fallback::Up(reason) => Verdict::new(State::Up, reason.clone()),
            Fallback::UpWhenUntested(reason) if !tally.has_tests => Verdict::new(State::Up, reason.clone()),
            Fallback::Unknown(reason) => Verdict::new(State::Unknown, reason.clone()),
            Fallback::UpWhenUntested(_) | Fallback::Carry => self.carry(inputs, metric),
        }
    }

    /// The table still holds the data its last tests judged: keep that judgment, saying
    /// when it was made. Only a judgment is kept ([`super::is_judgment`]).
    fn carry(&self, inputs: &Inputs<'_>, metric: &Metric) -> Verdict {
        let judged = inputs.previous.get(metric).filter(|j| super::is_judgment(&j.verdict));
        match judged {
            Some(previous) if previous.verdict.reason.starts_with(NOT_CHECKED) => previous.verdict.clone(),
            Some(Judgment { verdict, at: Some(at) }) => Verdict::new(
                verdict.state,
                format!("{NOT_CHECKED}; last tested {}: {}", crate::timefmt::stamp(*at), verdict.reason),
            ),
            Some(Judgment { verdict, at: None }) => {
                Verdict::new(verdict.state, format!("{NOT_CHECKED}; last result: {}", verdict.reason))
            }
            None => {
                let why = self.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                Verdict::new(State::Unknown, format!("{NOT_CHECKED}{why}"))
            }
        }
    }
}

/// The worst state wins; its first two reasons are joined, the rest counted. Built as the
/// verdicts come, so the common case (one say) moves its reason rather than copying it.
#[derive(Default)]
struct Worst {
    verdict: Option<Verdict>,
    /// How many verdicts had the worst state.
    count: usize,
}

impl Worst {
    fn would_keep(&self, state: State) -> bool {
        self.verdict.as_ref().is_none_or(|v| state <= v.state)
    }

    fn add(&mut self, verdict: Verdict) {
        match &mut self.verdict {
            Some(held) if verdict.state > held.state => {}
            Some(held) if verdict.state == held.state => {
                self.count += 1;
                if self.count == 2 {
                    held.reason.push_str("; ");
                    held.reason.push_str(&verdict.reason);
                }
            }
            _ => {
                self.verdict = Some(verdict);
                self.count = 1;
            }
        }
    }

    fn finish(self) -> Option<Verdict> {
        let mut verdict = self.verdict?;
        if self.count > 2 {
            verdict.reason.push_str(&format!(" (and {} more)", self.count - 2));
        }
        Some(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_state_wins_with_its_first_two_reasons_and_a_count_of_the_rest() {
        use State::{Degraded, Down, Up};
        // (what the rules said, in order; the verdict)
        type Case<'a> = (&'a [(State, &'a str)], Option<(State, &'a str)>);
        let cases: &[Case] = &[
            (&[], None),
            (&[(Up, "a")], Some((Up, "a"))),
            (&[(Up, "a"), (Down, "b")], Some((Down, "b"))),
            (&[(Down, "a"), (Degraded, "b"), (Down, "c")], Some((Down, "a; c"))),
            (&[(Down, "a"), (Down, "b"), (Up, "c"), (Down, "d"), (Down, "e")], Some((Down, "a; b (and 2 more)"))),
            (&[(Degraded, "a"), (Degraded, "b"), (Down, "c")], Some((Down, "c"))),
        ];
        for (said, expected) in cases {
            let mut worst = Worst::default();
            for (state, reason) in *said {
                worst.add(Verdict::new(*state, *reason));
            }
            let found = worst.finish();
            assert_eq!(found.as_ref().map(|v| (v.state, v.reason.as_str())), *expected, "{said:?}");
        }
    }
}
