//! The JSON Schema of the contract, generated from the types with `schemars`.
//!
//! One document: its root is the batch (`POST /v1/ingest`); `$defs` holds the single-object
//! bodies `InstanceState`, `TradeState` and `TradeSignal` for the other routes, and
//! `PositionsSnapshot` (batch only). The committed
//! copy (`schema/tradestate-v1.schema.json`) is checked against this by a test. The schema
//! states what it can (types, required fields, patterns, ranges, lengths); the code is the
//! authority for the rest (which states go with which types and close fields, ticket fits u64,
//! a snapshot's tickets unique and at most 5,000).

use std::path::PathBuf;

use schemars::generate::SchemaSettings;

use crate::types::{Batch, InstanceState, PositionsSnapshot, TradeSignal, TradeState};

/// Where the committed schema lives.
pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join("tradestate-v1.schema.json")
}

/// The schema as a JSON value.
pub fn json_schema() -> serde_json::Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    // Registering the single-object bodies puts them in `$defs` under their type names.
    generator.subschema_for::<InstanceState>();
    generator.subschema_for::<TradeState>();
    generator.subschema_for::<TradeSignal>();
    generator.subschema_for::<PositionsSnapshot>();
    let mut schema = generator.into_root_schema_for::<Batch>();
    schema.insert(
        "$id".to_owned(),
        "https://tradestate.invalid/schema/tradestate-v1.schema.json".into(),
    );
    schema.insert("title".to_owned(), "Tradestate terminal contract v1".into());
    schema.insert(
        "description".to_owned(),
        "Body of POST /v1/ingest (a batch). The bodies of PUT /v1/instances/{id}/state, \
         PUT /v1/instances/{id}/trades/{ticket} and POST /v1/instances/{id}/signals are \
         $defs/InstanceState, $defs/TradeState and $defs/TradeSignal."
            .into(),
    );
    schema.to_value()
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn json_schema_text() -> String {
    let mut text = match serde_json::to_string_pretty(&json_schema()) {
        Ok(text) => text,
        // A serde_json::Value always serializes; this arm only keeps panics out.
        Err(error) => format!("{{\"error\": {:?}}}", error.to_string()),
    };
    text.push('\n');
    text
}
