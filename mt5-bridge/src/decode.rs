//! JSON decoding with field-level errors: the entry points the gateway's HTTP routes call.
//!
//! A batch is decoded in two steps so that one reply names every bad update, not just the
//! first: the envelope is parsed with each update kept as its list of `(field, value)` entries,
//! then each update is decoded on its own (by its `kind`) and validated. `serde_path_to_error`
//! supplies the field paths; serde's buffering of internally tagged enums would lose them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::errors::{join_path, FieldError, ValidationErrors, ROOT_FIELD};
use crate::types::{Batch, InstanceState, TradeSignal, TradeState, Update};
use crate::validate::check_envelope;

/// Decodes and validates the body of `POST /v1/ingest`.
pub fn parse_batch(json: &[u8]) -> Result<Batch, ValidationErrors> {
    if let Some(batch) = parse_valid_batch(json) {
        return Ok(batch);
    }
    parse_batch_reporting(json)
}

/// The fast path for the common case, a valid batch: one typed decode and the checks. Any
/// failure falls back to [`parse_batch_reporting`], which names every bad field; the fast path
/// itself never decides what is invalid.
fn parse_valid_batch(json: &[u8]) -> Option<Batch> {
    // serde's derived structs also take arrays; only objects may pass, as in the slow path.
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let batch: Batch = serde_json::from_slice(json).ok()?;
    batch.validate().ok()?;
    Some(batch)
}

/// Decodes update by update so that one reply names every bad field of every update.
fn parse_batch_reporting(json: &[u8]) -> Result<Batch, ValidationErrors> {
    let envelope: RawBatch = decode_json(json)?;
    let mut errors = Vec::new();
    let instance_id = envelope.instance_id.as_deref();
    if !check_envelope(instance_id, envelope.updates.len(), &mut errors) {
        // A wrong number of updates is refused before looking at any of them.
        return Err(ValidationErrors(errors));
    }
    let mut updates = Vec::with_capacity(envelope.updates.len());
    for (index, raw) in envelope.updates.into_iter().enumerate() {
        let prefix = format!("updates[{index}]");
        match decode_update(raw, &prefix) {
            Ok(update) => {
                update.validate_into(&prefix, &mut errors);
                updates.push(update);
            }
            Err(error) => errors.push(error),
        }
    }
    ValidationErrors::into_result(errors)?;
    Ok(Batch {
        instance_id: envelope.instance_id,
        updates,
    })
}

/// Decodes and validates the body of `PUT /v1/instances/{id}/state`.
pub fn parse_instance_state(json: &[u8]) -> Result<InstanceState, ValidationErrors> {
    let state: InstanceState = decode_json(json)?;
    state.validate()?;
    Ok(state)
}

/// Decodes and validates the body of `PUT /v1/instances/{id}/trades/{ticket}`. The caller checks
/// that the body's `ticket` matches the URL's.
pub fn parse_trade_state(json: &[u8]) -> Result<TradeState, ValidationErrors> {
    let trade: TradeState = decode_json(json)?;
    trade.validate()?;
    Ok(trade)
}

/// Decodes and validates the body of `POST /v1/instances/{id}/signals`.
pub fn parse_signal(json: &[u8]) -> Result<TradeSignal, ValidationErrors> {
    let signal: TradeSignal = decode_json(json)?;
    signal.validate()?;
    Ok(signal)
}

/// Parses a whole JSON document into `T`, rejecting trailing data.
fn decode_json<'de, T: Deserialize<'de>>(json: &'de [u8]) -> Result<T, FieldError> {
    // serde's derived structs also accept a JSON array of values in field order; the contract
    // is objects with named fields, so anything else is refused up front.
    let first = json.iter().find(|byte| !byte.is_ascii_whitespace());
    if let Some(&byte) = first {
        if byte != b'{' {
            return Err(FieldError::new(
                ROOT_FIELD,
                "the body must be a JSON object ({...}) with named fields",
            ));
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| path_error_to_field_error(error, ""))?;
    deserializer
        .end()
        .map_err(|error| FieldError::new(ROOT_FIELD, error.to_string()))?;
    Ok(value)
}

/// Decodes one batch entry by its `kind`.
fn decode_update(raw: RawUpdate, prefix: &str) -> Result<Update, FieldError> {
    let kind_field = join_path(prefix, "kind");
    let mut kind = None;
    let mut fields = Vec::with_capacity(raw.0.len());
    for (name, value) in raw.0 {
        if name != "kind" {
            fields.push((name, value));
        } else if kind.is_some() {
            return Err(FieldError::new(kind_field, "duplicate field `kind`"));
        } else {
            kind = Some(value);
        }
    }
    let kind =
        match kind {
            None => return Err(FieldError::new(
                kind_field,
                "missing field `kind`; expected one of `instance`, `trade`, `signal`, `positions`",
            )),
            Some(Value::String(kind)) => kind,
            Some(other) => {
                return Err(FieldError::new(
                    kind_field,
                    format!(
                "invalid type: {other}, expected one of `instance`, `trade`, `signal`, `positions`"
            ),
                ))
            }
        };
    let fields = de::value::MapDeserializer::<_, serde_json::Error>::new(fields.into_iter());
    let decoded = match kind.as_str() {
        "instance" => serde_path_to_error::deserialize(fields).map(Update::Instance),
        "trade" => serde_path_to_error::deserialize(fields).map(Update::Trade),
        "signal" => serde_path_to_error::deserialize(fields).map(Update::Signal),
        "positions" => serde_path_to_error::deserialize(fields).map(Update::Positions),
        _ => {
            return Err(FieldError::new(
                kind_field,
                format!(
                "unknown kind `{kind}`, expected one of `instance`, `trade`, `signal`, `positions`"
            ),
            ))
        }
    };
    decoded.map_err(|error| path_error_to_field_error(error, prefix))
}

/// Turns a serde error with its path into a field error. Malformed JSON concerns the body as a
/// whole (`$`); a missing, unknown or duplicate field is reported at that field's own path
/// rather than at its parent's, so a typo points at the typo.
fn path_error_to_field_error(
    error: serde_path_to_error::Error<serde_json::Error>,
    prefix: &str,
) -> FieldError {
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return FieldError::new(ROOT_FIELD, inner.to_string());
    }
    let mut path = prefix.to_owned();
    for segment in error.path().iter() {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } => path = join_path(&path, key),
            Segment::Enum { .. } => {}
            Segment::Unknown => path = join_path(&path, "?"),
        }
    }
    let message = strip_position(inner);
    if let Some(name) = named_field(&message) {
        // serde_path_to_error already ends the path with an unknown key, not with a missing one.
        let last_segment = path.rsplit(['.', ']']).next().unwrap_or_default();
        if last_segment != name {
            path = join_path(&path, name);
        }
    }
    if path.is_empty() {
        path = ROOT_FIELD.to_owned();
    }
    FieldError::new(path, message)
}

/// A data error's position is noise next to its field path; syntax errors keep theirs.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// The field a serde "missing/unknown/duplicate field `x`" message is about.
fn named_field(message: &str) -> Option<&str> {
    ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|start| message.strip_prefix(start))
        .and_then(|rest| rest.split('`').next())
}

/// The batch envelope with each update still undecoded.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    #[serde(default)]
    instance_id: Option<String>,
    updates: Vec<RawUpdate>,
}

/// One update's entries in the order sent (duplicates kept, so the typed decode reports them).
struct RawUpdate(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for RawUpdate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawUpdate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an update object with a \"kind\" field")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawUpdate, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(24).min(64));
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value::<Value>()?;
                    entries.push((name, value));
                }
                Ok(RawUpdate(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{invalid_fixtures, valid_fixtures, FixtureBody};

    #[test]
    fn the_fast_path_agrees_with_the_reporting_path_on_every_fixture() {
        for fixture in valid_fixtures().unwrap() {
            if fixture.body_kind != FixtureBody::Batch {
                continue;
            }
            let fast = parse_valid_batch(&fixture.body);
            let slow = parse_batch_reporting(&fixture.body).ok();
            assert!(
                fast.is_some(),
                "{}: fast path refused a valid batch",
                fixture.name
            );
            assert_eq!(fast, slow, "{}", fixture.name);
        }
        for fixture in invalid_fixtures().unwrap() {
            if fixture.body_kind == FixtureBody::Batch {
                assert!(
                    parse_valid_batch(&fixture.body).is_none(),
                    "{}",
                    fixture.name
                );
            }
        }
    }
}
