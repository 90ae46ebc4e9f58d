//! One failure grammar for every command (docs/cli.md): an exit code per kind of failure,
//! and with `--json` one object `{"error", "kind"}` on stdout.
//!
//! | code | kind      | meaning                                                     |
//! |------|-----------|-------------------------------------------------------------|
//! | 0    | —         | success (evidence valid)                                    |
//! | 1    | `invalid` | the evidence (proof, receipt, node answer) is not valid     |
//! | 2    | `usage`   | bad arguments or input files (what to change is named)      |
//! | 3    | `io`      | a file could not be read or written, or a node not reached  |

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Usage,
    Io,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Invalid => 1,
            Kind::Usage => 2,
            Kind::Io => 3,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::Usage => "usage",
            Kind::Io => "io",
        }
    }
}

/// A marker attached as context: the kind of the failure below it.
#[derive(Debug)]
pub struct Classified(pub Kind);

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Invalid => "INVALID",
            Kind::Usage => "usage error",
            Kind::Io => "I/O error",
        })
    }
}

impl std::error::Error for Classified {}

/// Marks an error as "the evidence is invalid" (exit 1).
pub fn invalid(e: impl Into<anyhow::Error>) -> anyhow::Error {
    mark(e.into(), Kind::Invalid)
}

/// Marks an error as an I/O or network failure (exit 3).
pub fn io(e: impl Into<anyhow::Error>) -> anyhow::Error {
    mark(e.into(), Kind::Io)
}

fn mark(e: anyhow::Error, kind: Kind) -> anyhow::Error {
    // The marker goes to the bottom of the chain so that the message reads as before.
    let msg = format!("{e:#}");
    anyhow::Error::new(Classified(kind)).context(msg)
}

/// The kind of a failure: an explicit mark, else what its causes say (an I/O error, a
/// node that could not be reached or that answered falsely), else a usage/input error.
pub fn classify(e: &anyhow::Error) -> Kind {
    for cause in e.chain() {
        if let Some(Classified(k)) = cause.downcast_ref::<Classified>() {
            return *k;
        }
    }
    for cause in e.chain() {
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return Kind::Io;
        }
        if let Some(c) = cause.downcast_ref::<verity_client::Error>() {
            return match c {
                verity_client::Error::Transport(_) => Kind::Io,
                verity_client::Error::Node { status, .. } if *status >= 500 => Kind::Io,
                verity_client::Error::Verification(_) | verity_client::Error::Protocol(_) => Kind::Invalid,
                _ => Kind::Usage,
            };
        }
        if cause.downcast_ref::<verity_exec::CheckError>().is_some() {
            return Kind::Invalid;
        }
    }
    Kind::Usage
}

/// The advice a user needs for some errors, appended to the message.
pub fn hint(msg: &str) -> Option<&'static str> {
    if msg.contains("the node answered 401") || msg.contains("the node answered 403") {
        return Some(
            "publishing needs the node's API key: pass it with --api-key KEY or the VERITY_API_KEY environment variable \
             (the node itself is started with the same --api-key or VERITY_API_KEY)",
        );
    }
    None
}
