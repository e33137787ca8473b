//! The runtime's error type.
//!
//! Every variant says *what* failed and *where* (a file, a config field, a
//! container id, a syscall), because the person reading it is usually at a
//! shell prompt wondering which of twenty setup steps went wrong.

use std::path::PathBuf;

/// Everything the runtime library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config.json` could not be read at all.
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON, or a field has the wrong type.
    /// `field` is the path serde was at (`process.user.uid`).
    #[error("{path}:{line}:{column}: field `{field}`: {message}")]
    ParseConfig {
        path: PathBuf,
        field: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The JSON is well-formed but asks for something invalid or unsupported.
    #[error("{path}: field `{field}`: {problem}")]
    InvalidConfig {
        path: PathBuf,
        field: String,
        problem: String,
    },
    #[error("container `{0}` does not exist (no state under the --root directory)")]
    NotFound(String),
    #[error("container `{0}` already exists; delete it first or pick another id")]
    AlreadyExists(String),
    #[error("invalid container id `{0}`: use letters, digits, `-`, `_` and `.` only")]
    InvalidId(String),
    /// An operation was asked of a container in the wrong state, e.g. `start`
    /// on a running container.
    #[error("container `{id}` is {status}: {hint}")]
    WrongState {
        id: String,
        status: String,
        hint: String,
    },
    /// The container's init process reported a failure during setup.
    #[error("container `{id}` failed to start: {message}")]
    Init { id: String, message: String },
    /// A syscall or file operation failed; `context` says which step.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A cgroup file could not be written or read.
    #[error("cgroup {path}: {source}")]
    Cgroup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unknown signal `{0}`: use a name like KILL or SIGTERM, or a number")]
    UnknownSignal(String),
}

/// Shorthand used by every module of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a step description to io errors (and nix errors) on the way up.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|errno| Error::Io {
            context: what(),
            source: std::io::Error::from(errno),
        })
    }
}
