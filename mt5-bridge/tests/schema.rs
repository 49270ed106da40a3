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
    for body in [
        "InstanceState",
        "TradeState",
        "TradeSignal",
        "PositionsSnapshot",
    ] {
        assert!(schema["$defs"][body].is_object(), "$defs/{body} is missing");
    }
}

#[test]
fn volumes_are_strictly_positive_as_validation_requires() {
    let schema = tradestate_mt5_bridge::json_schema();
    for body in ["TradeState", "TradeSignal"] {
        let volume = &schema["$defs"][body]["properties"]["volume"];
        assert_eq!(volume["exclusiveMinimum"], 0, "{body}: {volume}");
        assert!(volume.get("minimum").is_none(), "{body}: {volume}");
    }
}

#[test]
fn the_schema_knows_orders_and_snapshots() {
    let schema = tradestate_mt5_bridge::json_schema();
    let names = |def: &str| -> Vec<String> {
        schema["$defs"][def]["enum"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let types = names("PositionType");
    for ty in tradestate_mt5_bridge::PositionType::ALL {
        assert!(types.contains(&ty.as_str().to_owned()), "{types:?}");
    }
    let states = names("TradeStatus");
    for state in tradestate_mt5_bridge::TradeStatus::ALL {
        assert!(states.contains(&state.as_str().to_owned()), "{states:?}");
    }
    let kinds = schema["$defs"]["Update"].to_string();
    assert!(kinds.contains("\"positions\""), "{kinds}");
}
