//! Library errors. Each variant carries what a person needs to act: the file, the record, the
//! endpoint. None of them ever holds a secret.

use std::path::PathBuf;

/// The messages of an error's causes (not of the error itself), outermost first, a cause that
/// repeats the one before it left out (wrappers often quote their source).
pub fn causes(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if messages.last() != Some(&message) {
            messages.push(message);
        }
        source = cause.source();
    }
    messages
}

/// Reading a document failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The input holds nothing but white space.
    #[error("{source_name} is empty: expected a JSON object (a `TenantDump`)")]
    Empty {
        /// File name or other description of the input.
        source_name: String,
    },
    /// The input is obviously something other than JSON.
    #[error("{source_name} is {what}, not JSON")]
    NotJson {
        /// File name or other description of the input.
        source_name: String,
        /// What it looks like.
        what: String,
    },
    /// The input is not JSON, or not a `TenantDump`.
    #[error("{source_name}:{line}:{column}: {}{message}", record.as_ref().map(|r| format!("at `{r}`: ")).unwrap_or_default())]
    Parse {
        /// File name or other description of the input.
        source_name: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// Path of the record and field, such as `users[3].status`, when known.
        record: Option<String>,
        /// What is wrong.
        message: String,
    },
}
