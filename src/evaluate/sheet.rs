//! A product's metrics while the rules add to them: contributions per metric, the worst
//! of which wins, and what an unjudged metric becomes.

use super::Inputs;
use crate::model::{Metric, State, Verdict};

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
const CARRY_PREFIX: &str = "not checked in the latest run; last result: ";

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
        let mut found: Vec<Vec<Verdict>> = vec![Vec::new(); self.metrics.len()];
        for (at, verdict) in std::mem::take(&mut self.found) {
            found[at].push(verdict);
        }
        self.metrics
            .iter()
            .zip(&self.tallies)
            .zip(found)
            .map(|((metric, tally), mut verdicts)| {
                if tally.passed > 0 {
                    let n = tally.passed;
                    let text = if n == 1 { "1 test passed".to_string() } else { format!("{n} tests passed") };
                    verdicts.push(Verdict::new(State::Up, text));
                }
                let said = !verdicts.is_empty();
                let mut verdict =
                    if said { combine(verdicts) } else { self.fall_back(inputs, tally, metric, fallback) };
                // Up for other reasons (the DAG is active, the table was rebuilt), while the
                // metric's own tests did not run: say so rather than imply they passed.
                if said && verdict.state == State::Up && tally.has_tests && !tally.judged {
                    verdict.reason.push_str("; its tests were not checked in the latest run");
                }
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

    /// The table still holds the data its last tests judged: keep that state. Only a
    /// judgment is kept: not maintenance, not a monitor that could not see (`unknown`),
    /// not a block by the DAG, which says nothing of the data once the DAG is back.
    fn carry(&self, inputs: &Inputs<'_>, metric: &Metric) -> Verdict {
        let judged = inputs.previous.get(metric).filter(|v| {
            !matches!(v.state, State::Maintenance | State::Unknown) && !v.reason.starts_with(super::BLOCKED_PREFIX)
        });
        match judged {
            Some(previous) if previous.reason.starts_with(NOT_CHECKED) => previous.clone(),
            Some(previous) => Verdict::new(previous.state, format!("{CARRY_PREFIX}{}", previous.reason)),
            None => {
                let why = self.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                Verdict::new(State::Unknown, format!("{NOT_CHECKED}{why}"))
            }
        }
    }
}

/// The worst state wins; its reasons are joined, the rest counted.
fn combine(mut verdicts: Vec<Verdict>) -> Verdict {
    verdicts.sort_by_key(|v| v.state);
    let worst = verdicts[0].state;
    let reasons: Vec<&str> = verdicts.iter().filter(|v| v.state == worst).map(|v| v.reason.as_str()).collect();
    let reason = match reasons.len() {
        1..=2 => reasons.join("; "),
        n => format!("{}; {} (and {} more)", reasons[0], reasons[1], n - 2),
    };
    Verdict::new(worst, reason)
}
