//! What one request may spend on rendering, summed over every render it causes.
//!
//! [`RenderLimits`](super::RenderLimits) stops one runaway template; it does not stop a
//! request that renders a template just under that limit for thousands of recipients.
//! A [`RenderBudget`] does: it carries the fuel the whole request may burn and the time
//! it may take, is charged after every render (and for every recipient a shared render
//! stands for), and is checked before the next one. A request therefore overshoots its
//! fuel by at most one render's limit and its time by at most one render.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::templates::TemplateError;

/// The fuel and time one request may spend rendering.
#[derive(Debug)]
pub struct RenderBudget {
    fuel: u64,
    spent: u64,
    time: Duration,
    deadline: Option<Instant>,
    /// Set when whoever waits for the renders has gone (the client hung up).
    abandoned: Option<Arc<AtomicBool>>,
}

/// Which part of the budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetSpent {
    /// The fuel of the whole request (minijinja fuel units).
    Fuel { budget: u64 },
    /// The wall-clock time of the whole request.
    Time { budget: Duration },
    /// Nobody waits for the result any more.
    Abandoned,
}

impl fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetSpent::Fuel { budget } => write!(
                f,
                "the request's rendering budget of {budget} fuel units (summed over every \
                 recipient's render) is used up"
            ),
            BudgetSpent::Time { budget } => write!(
                f,
                "the request's rendering time budget of {} ms is used up",
                budget.as_millis()
            ),
            BudgetSpent::Abandoned => f.write_str("the request was abandoned"),
        }
    }
}

/// A budget that ran out while rendering one template part (`subject`, `html`, `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded {
    pub part: String,
    pub spent: BudgetSpent,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rendering the {} template: {}", self.part, self.spent)
    }
}

/// Why a budgeted render did not produce a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderFailure {
    /// The template itself failed (does not compile, a runtime error, its own fuel limit).
    Template(TemplateError),
    /// The request's budget ran out.
    Budget(BudgetExceeded),
}

impl fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderFailure::Template(e) => e.fmt(f),
            RenderFailure::Budget(e) => e.fmt(f),
        }
    }
}

impl From<TemplateError> for RenderFailure {
    fn from(e: TemplateError) -> Self {
        RenderFailure::Template(e)
    }
}

impl RenderBudget {
    /// `fuel` for the whole request, and `time` from now.
    pub fn new(fuel: u64, time: Duration) -> Self {
        RenderBudget {
            fuel,
            spent: 0,
            time,
            deadline: Some(Instant::now() + time),
            abandoned: None,
        }
    }

    /// No limit but each render's own (a worker rendering one message).
    pub fn unlimited() -> Self {
        RenderBudget {
            fuel: u64::MAX,
            spent: 0,
            time: Duration::MAX,
            deadline: None,
            abandoned: None,
        }
    }

    /// Stops the renders (at the next check) once `flag` is set.
    pub fn abandoned_when(mut self, flag: Arc<AtomicBool>) -> Self {
        self.abandoned = Some(flag);
        self
    }

    /// Fuel charged so far.
    pub fn spent(&self) -> u64 {
        self.spent
    }

    /// Whether another render of `part` may start.
    pub(crate) fn check(&self, part: &str) -> Result<(), BudgetExceeded> {
        let spent = if self
            .abandoned
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            Some(BudgetSpent::Abandoned)
        } else if self.spent >= self.fuel {
            Some(BudgetSpent::Fuel { budget: self.fuel })
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(BudgetSpent::Time { budget: self.time })
        } else {
            None
        };
        match spent {
            Some(spent) => Err(BudgetExceeded {
                part: part.to_owned(),
                spent,
            }),
            None => Ok(()),
        }
    }

    /// Charges a render of `part` that burnt `fuel`; fails when that took the request past
    /// its fuel budget.
    pub(crate) fn charge(&mut self, part: &str, fuel: u64) -> Result<(), BudgetExceeded> {
        self.spent = self.spent.saturating_add(fuel);
        if self.spent > self.fuel {
            return Err(BudgetExceeded {
                part: part.to_owned(),
                spent: BudgetSpent::Fuel { budget: self.fuel },
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuel_is_summed_over_renders_and_refused_past_the_budget() {
        let mut budget = RenderBudget::new(100, Duration::from_secs(60));
        assert!(budget.check("html").is_ok());
        assert!(budget.charge("html", 60).is_ok());
        assert!(budget.check("html").is_ok());
        let err = budget.charge("text", 60).unwrap_err();
        assert_eq!(err.part, "text");
        assert_eq!(err.spent, BudgetSpent::Fuel { budget: 100 });
        assert_eq!(budget.spent(), 120);
        assert!(budget.check("subject").is_err());
    }

    #[test]
    fn time_runs_out_at_the_deadline() {
        let budget = RenderBudget::new(u64::MAX, Duration::ZERO);
        let err = budget.check("subject").unwrap_err();
        assert_eq!(
            err.spent,
            BudgetSpent::Time {
                budget: Duration::ZERO
            }
        );
        assert!(err.to_string().contains("time budget of 0 ms"), "{err}");
    }

    #[test]
    fn an_abandoned_request_stops_rendering() {
        let flag = Arc::new(AtomicBool::new(false));
        let budget =
            RenderBudget::new(100, Duration::from_secs(60)).abandoned_when(Arc::clone(&flag));
        assert!(budget.check("html").is_ok());
        flag.store(true, Ordering::Relaxed);
        assert_eq!(
            budget.check("html").unwrap_err().spent,
            BudgetSpent::Abandoned
        );
    }

    #[test]
    fn unlimited_never_runs_out() {
        let mut budget = RenderBudget::unlimited();
        assert!(budget.charge("html", u64::MAX / 2).is_ok());
        assert!(budget.check("html").is_ok());
    }
}
