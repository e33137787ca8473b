//! [`Status`]: what a plugin answers at an extension point.

/// The kind of answer, as Kubernetes' `framework.Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The pod passes (or the plugin did its work).
    Success,
    /// The pod does not fit here now, but might once other pods are
    /// removed: preemption may help (`Insufficient cpu`).
    Unschedulable,
    /// The pod does not fit here, and removing pods would not change that
    /// (a taint it does not tolerate, a label it requires).
    UnschedulableAndUnresolvable,
    /// Something went wrong that is not about the pod fitting.
    Error,
    /// The plugin has nothing to do for this pod: its later extension
    /// points are skipped for this cycle.
    Skip,
}

/// A plugin's answer: a code, the reasons a user reads, and the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    /// One entry per reason: a node may fail `NodeResourcesFit` for both
    /// `Insufficient cpu` and `Insufficient memory`, and the summary
    /// message counts each.
    pub reasons: Vec<String>,
    /// The plugin that answered; set by the framework.
    pub plugin: &'static str,
}

impl Status {
    fn new(code: Code, reasons: Vec<String>) -> Status {
        Status {
            code,
            reasons,
            plugin: "",
        }
    }

    /// Success.
    pub fn success() -> Status {
        Status::new(Code::Success, Vec::new())
    }

    /// Nothing to do for this pod.
    pub fn skip() -> Status {
        Status::new(Code::Skip, Vec::new())
    }

    /// Does not fit now; preemption might help.
    pub fn unschedulable(reasons: Vec<String>) -> Status {
        Status::new(Code::Unschedulable, reasons)
    }

    /// Does not fit, whatever other pods do.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, vec![reason.into()])
    }

    /// An error.
    pub fn error(message: impl Into<String>) -> Status {
        Status::new(Code::Error, vec![message.into()])
    }

    /// The same status, answered by `plugin`.
    pub fn by(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the pod was refused (either kind of unschedulable).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    /// The reasons as one message.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}
