//! The committed JSON Schema must be what the code generates.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test -p tradestate-mt5-bridge --test schema`.

use tradestate_mt5_bridge::{json_schema_text, schema_path};

#[test]
fn committed_schema_matches_the_types() {
    let generated = json_schema_text();
    let path = schema_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create schema/");
        }
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the types in src/types.rs; regenerate it with \
         `UPDATE_SCHEMA=1 cargo test -p tradestate-mt5-bridge --test schema` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_the_batch_and_the_single_object_bodies() {
    let schema = tradestate_mt5_bridge::json_schema();
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["updates"].is_object());
    for body in ["InstanceState", "TradeState", "TradeSignal"] {
        assert!(schema["$defs"][body].is_object(), "$defs/{body} is missing");
    }
}
