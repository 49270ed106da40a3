//! Reading the MQL5 library's sources as text, for the suites that check it against the Rust
//! side (`mql5_source.rs`, `history.rs`): MQL5 cannot be compiled here.
#![allow(dead_code)]

use std::path::PathBuf;

/// `mt5-bridge/mql5`.
pub fn mql5_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mql5")
}

/// `mql5/Include/Tradestate`, the library.
pub fn include_dir() -> PathBuf {
    mql5_dir().join("Include/Tradestate")
}

/// The text of the library file `name`.
pub fn source(name: &str) -> String {
    std::fs::read_to_string(include_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// MQL5 string literals in `text`, unescaped, in order.
pub fn literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut literal = String::new();
        loop {
            match chars.next() {
                Some('"') | None => break,
                Some('\\') => match chars.next() {
                    Some('n') => literal.push('\n'),
                    Some('r') => literal.push('\r'),
                    Some('t') => literal.push('\t'),
                    Some(other) => literal.push(other),
                    None => break,
                },
                Some(other) => literal.push(other),
            }
        }
        out.push(literal);
    }
    out
}

/// The body of `<signature>` up to its closing `\n  }`.
pub fn function_body<'a>(source: &'a str, signature: &str) -> &'a str {
    let start = source
        .find(signature)
        .unwrap_or_else(|| panic!("{signature} not found"));
    let rest = &source[start..];
    let end = rest.find("\n  }").unwrap_or(rest.len());
    &rest[..end]
}
