//! The errors of stream values, with Redis 7.0's exact texts.

use std::fmt;

/// Errors with Redis 7.0's exact texts; [`StreamError::message`] is the full
/// error line without the leading `-` (e.g. `"ERR syntax error"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    InvalidId,
    InvalidStartInterval,
    InvalidEndInterval,
    XaddIdZero,
    XaddIdTooSmall,
    Exhausted,
    ElementsTooLarge,
    NotAnInteger,
    SyntaxError,
    MaxLenNegative,
    LimitNegative,
    MaxLenAndMinId,
    LimitWithoutStrategy,
    LimitWithoutApprox,
    XtrimWithoutStrategy,
}

impl StreamError {
    pub fn message(self) -> &'static str {
        match self {
            StreamError::InvalidId => "ERR Invalid stream ID specified as stream command argument",
            StreamError::InvalidStartInterval => "ERR invalid start ID for the interval",
            StreamError::InvalidEndInterval => "ERR invalid end ID for the interval",
            StreamError::XaddIdZero => "ERR The ID specified in XADD must be greater than 0-0",
            StreamError::XaddIdTooSmall => {
                "ERR The ID specified in XADD is equal or smaller than the target stream top item"
            }
            StreamError::Exhausted => {
                "ERR The stream has exhausted the last possible ID, unable to add more items"
            }
            StreamError::ElementsTooLarge => "ERR Elements are too large to be stored",
            StreamError::NotAnInteger => "ERR value is not an integer or out of range",
            StreamError::SyntaxError => "ERR syntax error",
            StreamError::MaxLenNegative => "ERR The MAXLEN argument must be >= 0.",
            StreamError::LimitNegative => "ERR The LIMIT argument must be >= 0.",
            StreamError::MaxLenAndMinId => {
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
            }
            StreamError::LimitWithoutStrategy => {
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
            }
            StreamError::LimitWithoutApprox => {
                "ERR syntax error, LIMIT cannot be used without the special ~ option"
            }
            StreamError::XtrimWithoutStrategy => {
                "ERR syntax error, XTRIM must be called with a trimming strategy"
            }
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for StreamError {}
