//! A string that never shows itself: client secrets and access tokens.
//!
//! [`Secret`] prints `(redacted)` through both `Debug` and `Display`, so a secret held in a
//! settings struct, an error or a `tracing` field cannot leak by accident. The only way to read
//! it is [`Secret::expose`], which keeps every use easy to find. It does not serialize: nothing
//! poolsync writes to disk should hold one.

use std::fmt;

/// What a [`Secret`] prints instead of its value.
pub const REDACTED: &str = "(redacted)";

/// A secret string (client secret, access token) whose formatting is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it (a request body or header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an empty secret file, an empty variable).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&secret)), "Some((redacted))");
        assert_eq!(secret.expose(), "hunter2");
    }
}
