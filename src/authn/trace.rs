//! The step-by-step account of one validation, for `authgate test-token` and
//! `POST /admin/test-token`.
//!
//! Owns: [`Trace`], which the real validation code writes to as it goes (so the report shows
//! exactly what the gateway does). On the request path the trace is off and every call is a
//! branch on a bool. Steps never contain the token itself.

use serde::Serialize;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The check passed.
    Pass,
    /// The check failed (the last failing step carries the decision).
    Fail,
    /// Information (what was picked, what was not checked).
    Info,
}

/// One step of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The check (`provider`, `alg`, `key`, `exp`, `username_regex`, …).
    pub check: String,
    /// How it ended.
    pub verdict: Verdict,
    /// What was seen (never the token, never a secret).
    pub detail: String,
}

/// A sink for steps; [`Trace::off`] on the request path.
#[derive(Debug, Default)]
pub struct Trace {
    on: bool,
    steps: Vec<Step>,
}

impl Trace {
    /// A trace that records.
    pub fn recording() -> Self {
        Trace { on: true, steps: Vec::new() }
    }
    /// A trace that records nothing.
    pub fn off() -> Self {
        Trace::default()
    }
    /// True when recording.
    pub fn is_on(&self) -> bool {
        self.on
    }
    fn push(&mut self, check: &str, verdict: Verdict, detail: impl Into<String>) {
        if self.on {
            self.steps.push(Step {
                check: check.to_string(),
                verdict,
                detail: detail.into(),
            });
        }
    }
    /// A passed check.
    pub fn pass(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Verdict::Pass, detail);
    }
    /// A failed check.
    pub fn fail(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Verdict::Fail, detail);
    }
    /// Information.
    pub fn info(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Verdict::Info, detail);
    }
    /// The recorded steps.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }
}
