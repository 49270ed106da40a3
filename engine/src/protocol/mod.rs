//! The wire protocol: request parsing ([`parser`]) and reply encoding ([`reply`]).

pub mod parser;
pub mod reply;
