//! Exit codes and the error type that carries one.

use std::fmt;

/// Process exit codes (README "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// Everything holds and the run was complete.
    Ok = 0,
    /// A violation, a missing sanity example, a gate difference, a failed scenario,
    /// or a trace that does not reproduce.
    Failed = 1,
    /// Bad usage: flags, configuration, or input file.
    Usage = 2,
    /// A bound stopped the run before it was complete.
    Incomplete = 3,
    /// The model itself panicked (a model bug, not bad input).
    Internal = 4,
}

impl Code {
    /// The worse of two outcomes: a failure beats incompleteness beats success.
    pub fn worst(self, other: Code) -> Code {
        let rank = |c: Code| match c {
            Code::Ok => 0,
            Code::Incomplete => 1,
            Code::Failed => 2,
            Code::Usage => 3,
            Code::Internal => 4,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error that ends the command with `code` after printing `msg` on one line.
#[derive(Debug)]
pub struct Fail {
    pub code: Code,
    pub msg: String,
}

impl Fail {
    pub fn usage(msg: impl Into<String>) -> Fail {
        Fail {
            code: Code::Usage,
            msg: msg.into(),
        }
    }
    pub fn internal(msg: impl Into<String>) -> Fail {
        Fail {
            code: Code::Internal,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl From<model::ConfigError> for Fail {
    fn from(e: model::ConfigError) -> Fail {
        Fail::usage(e.0)
    }
}

pub type Result<T> = std::result::Result<T, Fail>;
