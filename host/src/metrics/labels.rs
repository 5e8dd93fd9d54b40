//! The closed label sets and their pre-created handles: every label value a series can take is
//! known at start, so recording indexes an array instead of hashing a label set under a lock,
//! and nothing a tenant sends (ids, messages, webhook names) can become a label.

use prometheus_client::metrics::family::{Family, MetricConstructor};

use crate::pipeline::{Outcome, Stage};
use crate::plugin::{Hook, PluginError, Tier};

/// One label: its name and value.
pub(super) type One = [(&'static str, &'static str); 1];
/// Two labels.
pub(super) type Two = [(&'static str, &'static str); 2];

/// How chats are answered.
pub(super) const OUTCOMES: [Outcome; 3] = [Outcome::Matched, Outcome::Success, Outcome::Failure];

/// The stages that take time of their own (`webhook` and `admission` only refuse).
pub(super) const TIMED_STAGES: [Stage; 5] =
    [Stage::Request, Stage::Upstream, Stage::Mapping, Stage::Plugin, Stage::Reply];

pub(super) const HOOKS: [Hook; 3] = [Hook::Instantiate, Hook::Extract, Hook::Format];

pub(super) const TIERS: [Tier; 2] = [Tier::Baseline, Tier::Optimized];

/// The compiler a tier runs, as operators know it.
pub(super) fn compiler(tier: Tier) -> &'static str {
    match tier {
        Tier::Baseline => "winch",
        Tier::Optimized => "cranelift",
    }
}

/// The class of an upstream's answer; `Error` when none came (refused, timed out, too large…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    Redirect,
    ClientError,
    ServerError,
    /// A final status outside 200–599.
    Other,
    Error,
}

impl StatusClass {
    pub(super) const ALL: [StatusClass; 6] = [
        StatusClass::Success,
        StatusClass::Redirect,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::Other,
        StatusClass::Error,
    ];

    pub fn of(status: Option<u16>) -> Self {
        match status {
            None => StatusClass::Error,
            Some(200..=299) => StatusClass::Success,
            Some(300..=399) => StatusClass::Redirect,
            Some(400..=499) => StatusClass::ClientError,
            Some(500..=599) => StatusClass::ServerError,
            Some(_) => StatusClass::Other,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::Other => "other",
            StatusClass::Error => "error",
        }
    }
}

/// How a compilation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileOutcome {
    Ok,
    /// The component was refused: invalid, over a compile bound, of another world.
    Refused,
    /// The host failed (a worker fault, an unusable artifact): not the upload's fault.
    Failed,
}

impl CompileOutcome {
    pub(super) const ALL: [CompileOutcome; 3] =
        [CompileOutcome::Ok, CompileOutcome::Refused, CompileOutcome::Failed];

    pub fn of<T>(result: &Result<T, PluginError>) -> Self {
        match result {
            Ok(_) => CompileOutcome::Ok,
            Err(error) if error.is_upload_error() => CompileOutcome::Refused,
            Err(_) => CompileOutcome::Failed,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            CompileOutcome::Ok => "ok",
            CompileOutcome::Refused => "refused",
            CompileOutcome::Failed => "failed",
        }
    }
}

/// Where `value` sits in its closed set.
pub(super) fn index<T: PartialEq>(all: &[T], value: T) -> Option<usize> {
    all.iter().position(|candidate| *candidate == value)
}

/// The handle of every value of one label, created now so each series shows from the start
/// (at zero) and recording needs no lookup.
pub(super) fn handles<M: Clone, C: MetricConstructor<M>, const N: usize>(
    family: &Family<One, M, C>,
    name: &'static str,
    values: [&'static str; N],
) -> [M; N] {
    values.map(|value| family.get_or_create_owned(&[(name, value)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_cover_every_status_and_no_answer() {
        assert_eq!(StatusClass::of(Some(204)), StatusClass::Success);
        assert_eq!(StatusClass::of(Some(302)), StatusClass::Redirect);
        assert_eq!(StatusClass::of(Some(404)), StatusClass::ClientError);
        assert_eq!(StatusClass::of(Some(503)), StatusClass::ServerError);
        assert_eq!(StatusClass::of(Some(799)), StatusClass::Other);
        assert_eq!(StatusClass::of(None).as_str(), "error");
    }

    #[test]
    fn compile_outcomes_tell_a_refusal_from_a_host_fault() {
        assert_eq!(CompileOutcome::of(&Ok::<(), PluginError>(())), CompileOutcome::Ok);
        assert_eq!(CompileOutcome::of(&Err::<(), _>(PluginError::NotWasm)), CompileOutcome::Refused);
        assert_eq!(
            CompileOutcome::of(&Err::<(), _>(PluginError::Internal("worker died".into()))),
            CompileOutcome::Failed
        );
    }
}
