//! Field-level errors: what the gateway returns with a 400 (HTTP) or an error reply (RESP).
//!
//! A field is a path into the body as the sender wrote it: `updates[2].volume`, `ticket`, or
//! `$` for the body as a whole (malformed JSON, trailing data).

use std::fmt;

use serde::Serialize;

/// The path used for errors about the whole body rather than one field.
pub const ROOT_FIELD: &str = "$";

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field, e.g. `updates[2].volume`; `$` for the whole body.
    pub field: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Every problem found in one body (validation does not stop at the first). Never empty when
/// returned as an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The distinct field paths, sorted: what the golden fixtures' `.expect` files list.
    pub fn fields(&self) -> std::collections::BTreeSet<String> {
        self.0.iter().map(|error| error.field.clone()).collect()
    }

    /// `Ok(())` when nothing was collected.
    pub(crate) fn into_result(errors: Vec<FieldError>) -> Result<(), ValidationErrors> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        ValidationErrors(vec![error])
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Joins a parent path and a field name: `("updates[2]", "volume")` -> `updates[2].volume`.
pub(crate) fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else if name.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}
