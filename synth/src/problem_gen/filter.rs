//! The execution filter on a parsed candidate: its tests must compile, the reference
//! solution must pass them in the sandbox, and a trivial stub (the entry point's
//! signature with body `pass`) must fail them.

use super::parse::Candidate;
use crate::check::Checker;
use datasets::records::Problem;
use sandbox::SandboxError;
use serde::Serialize;

/// Why a candidate (or an answer) was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rejection {
    /// The answer could not be read as a problem.
    Parse,
    /// The tests do not compile.
    TestsDoNotCompile,
    /// The reference solution does not pass its own tests.
    ReferenceFails,
    /// A stub that does nothing passes the tests: they test nothing.
    StubPasses,
    /// A near or exact duplicate of a problem kept before it.
    Duplicate,
}

impl Rejection {
    /// Every reason, in report order.
    pub const ALL: [Rejection; 5] = [
        Rejection::Parse,
        Rejection::TestsDoNotCompile,
        Rejection::ReferenceFails,
        Rejection::StubPasses,
        Rejection::Duplicate,
    ];

    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Parse => "parse",
            Rejection::TestsDoNotCompile => "tests-do-not-compile",
            Rejection::ReferenceFails => "reference-fails",
            Rejection::StubPasses => "stub-passes",
            Rejection::Duplicate => "duplicate",
        }
    }
}

/// The assert-style problem a candidate's solutions are checked against (id and
/// prompt do not matter to the sandbox).
pub fn check_problem(candidate: &Candidate) -> Problem {
    let mut problem =
        Problem::assert_style("candidate", candidate.prompt(), candidate.tests.clone());
    problem.entry_point = Some(candidate.entry_point.clone());
    problem
}

/// Runs the filter: `Ok(None)` keeps the candidate, `Ok(Some((reason, detail)))`
/// rejects it. An `Err` is the sandbox itself failing, not the candidate.
pub async fn filter(
    checker: &Checker,
    candidate: &Candidate,
) -> Result<Option<(Rejection, String)>, SandboxError> {
    if let Some(v) = checker.compile_gate(&candidate.tests).await? {
        return Ok(Some((Rejection::TestsDoNotCompile, v.detail)));
    }
    let problem = check_problem(candidate);
    let v = checker.check(&problem, &candidate.reference).await?;
    if !v.passed() {
        return Ok(Some((
            Rejection::ReferenceFails,
            format!("{}: {}", v.class.as_str(), v.detail),
        )));
    }
    let v = checker.check(&problem, &candidate.stub()).await?;
    if v.passed() {
        return Ok(Some((
            Rejection::StubPasses,
            "a stub with body `pass` passes the tests".into(),
        )));
    }
    Ok(None)
}
