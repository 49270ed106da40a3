//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json` and committed as
//! `gateway/openapi.json` (a test keeps the copy current; regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p tradestate-gateway --lib openapi`).
//!
//! Request bodies are the terminal contract: the mt5-bridge JSON Schema's `$defs` become
//! `components/schemas`, so the document cannot drift from the validator. [`ROUTES`] lists every
//! route the router serves (the router is built from it); a test checks the document against it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use tradestate_mt5_bridge::INSTANCE_ID_PATTERN;

/// Every route the router serves, in axum's path syntax (which is OpenAPI's); the router is built
/// from this list.
pub use super::{Route, RouteMethod, ROUTES};

pub async fn serve() -> impl IntoResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(document_text).clone();
    ([(header::CONTENT_TYPE, "application/json")], text)
}

/// The document pretty-printed with a trailing newline, as committed.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document())
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    text.push('\n');
    text
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Tradestate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "tags": [
            {"name": "ingest", "description": "Terminal writes (terminal token). A 200 means every update is acknowledged: in its partition's engine, or spooled to the gateway's spill log while that partition is down or slow, to be written there when it takes writes again. Acknowledged updates are never resent."},
            {"name": "reads", "description": "Operators, dashboards and workers (operator token)."},
            {"name": "service", "description": "Health, readiness, metrics and this document (no token)."}
        ],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "responses": responses(),
            "parameters": parameters(),
            "headers": headers(),
            "securitySchemes": {
                "terminalToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "The terminal's token (auth.terminals / auth.tokens_file); it is valid only for its own instance id. Development mode (no terminal tokens configured) accepts `tradestate-dev` for any id."
                },
                "operatorToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "One of auth.operator_tokens. With none configured, reads are open (the service warns at start)."
                }
            }
        }
    })
}

const DESCRIPTION: &str = "Gateway for MetaTrader 5 terminals: instance state (ris), trade state (rts) and trade signals (rtss).\n\n\
Conventions: times are UTC milliseconds (`*_msc`); stored objects come back in the contract's JSON shape (numbers as numbers, bools as bools), decoded from the stored hash, plus the gateway's `instance_id` and `received_msc` (when the object was stored). An object that no longer decodes comes back with its fields as stored text and `decode_errors`.\n\n\
Errors are JSON `{error, message, errors?, retry_after_ms?}`; 429 and 503 carry `Retry-After` (seconds). Successful ingest replies carry `x-tradestate-throttle-ms` when the terminal should slow down.";

fn paths() -> Value {
    let ingest = with_ingest_errors(json!({
        "tags": ["ingest"],
        "operationId": "ingestBatch",
        "summary": "A batch of mixed updates from one terminal",
        "description": "The terminal is the body's `instance_id` or the `x-tradestate-instance` header (they must agree when both are sent). At most limits.max_batch_updates updates and limits.max_body_bytes bytes.\n\nKinds: `instance` (heartbeat), `trade` (a position, `type` buy/sell, `state` open/closed; or a pending order, `type` buy_limit, sell_limit, buy_stop, sell_stop, buy_stop_limit or sell_stop_limit, `state` pending, then cancelled or filled), `signal`, and `positions`: the comma-separated tickets of every position and pending order the terminal holds (`\"\"` for none, at most 5,000). The gateway closes (a position) or cancels (an order) each live trade of the terminal that a `positions` snapshot does not list and whose stored `seq` is below the snapshot's: `closed_by: \"snapshot\"`, `time_close_msc` the snapshot's `time_msc`, the trade's own `seq` kept, so the terminal's real close still replaces it. A snapshot is stale or a duplicate by its own `seq`, like any state.",
        "security": [{"terminalToken": []}],
        "parameters": [{"$ref": "#/components/parameters/InstanceHeader"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("Batch")}}},
        "responses": {
            "200": {
                "description": "Every update acknowledged (stored, coalesced, stale, duplicate, spooled or volatile).",
                "headers": {"x-tradestate-throttle-ms": {"$ref": "#/components/headers/ThrottleMs"}},
                "content": {"application/json": {"schema": schema_ref("BatchReply")}}
            }
        }
    }));
    let state = single_operation(
        "putInstanceState",
        "Heartbeat: the terminal's full instance state",
        "InstanceState",
        &["InstanceId"],
    );
    let trade = single_operation(
        "putTradeState",
        "Full state of one position or pending order; the body's `ticket` must equal the path's",
        "TradeState",
        &["InstanceId", "Ticket"],
    );
    let signal = single_operation(
        "postSignal",
        "One trade signal; stored once per `signal_id`",
        "TradeSignal",
        &["InstanceId"],
    );

    json!({
        "/v1/ingest": {"post": ingest},
        "/v1/instances/{id}/state": {"put": state},
        "/v1/instances/{id}/trades/{ticket}": {"put": trade},
        "/v1/instances/{id}/signals": {"post": signal},
        "/v1/instances": {"get": read_operation(
            "listInstances",
            "Every terminal seen, with its status and state",
            "Terminals from the last-seen index (policy.ris_seen_key), newest heartbeat first. `status`: online while the last heartbeat is younger than policy.instance_stale_after_s, stale until policy.ris_ttl_s, then offline (its state has expired, so `state` is null). `totals` counts every terminal, whatever the filter.",
            json!([{
                "name": "status", "in": "query", "required": false,
                "description": "Only terminals with this status.",
                "schema": {"type": "string", "enum": ["online", "stale", "offline"]}
            }]),
            "InstanceList",
            &[],
        )},
        "/v1/instances/{id}": {"get": read_operation(
            "getInstance",
            "One terminal: status, state and trade counts",
            "404 when the id has never sent a heartbeat (it is not in the last-seen index).",
            json!([{"$ref": "#/components/parameters/InstanceId"}]),
            "InstanceDetail",
            &["404"],
        )},
        "/v1/instances/{id}/trades": {"get": read_operation(
            "listTrades",
            "A terminal's live or closed trades (positions and pending orders)",
            "open: every ticket in the open set (open positions and pending orders), lowest ticket first; closed: newest first of the closed index (closed positions, cancelled and filled orders, which expire policy.rts_closed_ttl_s after closing). `total` is the size of the index; `trades` holds at most `limit`. A trade the gateway closed or cancelled from a positions snapshot carries `closed_by: \"snapshot\"` and no `price_close`.",
            json!([
                {"$ref": "#/components/parameters/InstanceId"},
                {"name": "state", "in": "query", "required": false, "schema": {"type": "string", "enum": ["open", "closed"], "default": "open"}},
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
            ]),
            "TradeList",
            &[],
        )},
        "/v1/signals": {"get": read_operation(
            "listSignals",
            "A page of the signal stream",
            "With `after`: up to `count` entries after that id, oldest first (page forward with `next_after`). Without: the latest `count` entries, oldest first.",
            json!([
                {"$ref": "#/components/parameters/After"},
                {"name": "count", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
            ]),
            "SignalPage",
            &[],
        )},
        "/v1/signals/stream": {"get": {
            "tags": ["reads"],
            "operationId": "tailSignals",
            "summary": "Live tail of stored signals (Server-Sent Events)",
            "description": "Each stored signal is one event: `id: <entry id>`, `event: signal`, `data: <SignalEntry JSON>`. With `Last-Event-ID` (sent by a reconnecting EventSource; it wins over `after`) or `after`, the entries after that id are replayed from the stream first, then live ones follow, each exactly once. Without either, only signals stored from now on. A `: keep-alive` comment comes every 15 s. If the stream cannot be read mid-tail, an `event: error` with `{error, message}` ends it; reconnect with Last-Event-ID.",
            "security": [{"operatorToken": []}],
            "parameters": [
                {"$ref": "#/components/parameters/After"},
                string_parameter("Last-Event-ID", "header", false, "The last entry id received; replay resumes after it.", ENTRY_ID_PATTERN)
            ],
            "responses": {
                "200": {
                    "description": "An event stream of `signal` events whose data is a SignalEntry.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}, "example": "id: 1763000000000-0\nevent: signal\ndata: {\"id\":\"1763000000000-0\",\"instance_id\":\"T1\",\"seq\":7,\"signal_id\":\"s-7\",\"time_msc\":1763000000000,\"strategy\":\"trend-1\",\"symbol\":\"EURUSD\",\"action\":\"buy\",\"volume\":0.1}\n\n"}}
                },
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "503": response_ref("Unavailable")
            }
        }},
        "/healthz": {"get": {
            "tags": ["service"], "operationId": "healthz", "summary": "The process answers",
            "security": [],
            "responses": {"200": {"description": "Alive.", "content": {"application/json": {"schema": schema_ref("Health")}}}}
        }},
        "/readyz": {"get": {
            "tags": ["service"], "operationId": "readyz", "summary": "Every partition answers PING within 1 s, or has a spill log to take its updates",
            "description": "Also reports each partition's spill log (`partitions.*.spill`, absent for a partition configured without one) and whether the gateway is spilling (`spilling`). A client that reads the partitions directly after writing should wait until `spilling` is false and every `spill.records` is 0: until then, updates answered `spooled` are not in their partition yet.",
            "security": [],
            "responses": {
                "200": {"description": "Ready. A partition with a spill log may be down or slow while its updates are spooled; see `spilling`.", "content": {"application/json": {"schema": schema_ref("Ready")}}},
                "503": {"description": "A partition without a spill log is not reachable (`partitions` says which), or the gateway is still replaying a spill log left by a previous run (`replaying_startup`).", "content": {"application/json": {"schema": schema_ref("Ready")}}}
            }
        }},
        "/metrics": {"get": {
            "tags": ["service"], "operationId": "metrics", "summary": "Prometheus metrics (`tradestate_` prefix)",
            "security": [],
            "responses": {"200": {"description": "Prometheus text exposition format 0.0.4.", "content": {"text/plain": {"schema": {"type": "string"}}}}}
        }},
        "/openapi.json": {"get": {
            "tags": ["service"], "operationId": "openapi", "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}
    })
}

const ENTRY_ID_PATTERN: &str = "^[0-9]{1,20}(-[0-9]{1,20})?$";

fn single_operation(operation_id: &str, summary: &str, body: &str, params: &[&str]) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect();
    with_ingest_errors(json!({
        "tags": ["ingest"],
        "operationId": operation_id,
        "summary": summary,
        "security": [{"terminalToken": []}],
        "parameters": parameters,
        "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref(body)}}},
        "responses": {
            "200": {
                "description": "The update is acknowledged (stored, coalesced, stale, duplicate, spooled or volatile).",
                "headers": {"x-tradestate-throttle-ms": {"$ref": "#/components/headers/ThrottleMs"}},
                "content": {"application/json": {"schema": schema_ref("SingleReply")}}
            }
        }
    }))
}

/// The error replies every write route shares. 429 and 503 carry either an [`Error`] (the whole
/// submission was refused) or the usual reply whose per-update results say what to resend.
fn with_ingest_errors(mut operation: Value) -> Value {
    let partial = |description: &str| {
        json!({
            "description": description,
            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
            "content": {"application/json": {"schema": {"oneOf": [
                schema_ref("BatchReply"), schema_ref("SingleReply"), schema_ref("Error")
            ]}}}
        })
    };
    if let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    {
        responses.insert("400".into(), response_ref("BadRequest"));
        responses.insert("401".into(), response_ref("Unauthorized"));
        responses.insert("413".into(), response_ref("TooLarge"));
        responses.insert("429".into(), partial("Over a quota or watermark: the whole submission was refused (Error) or some updates were (the reply's results say which). Resend those after Retry-After."));
        responses.insert("503".into(), partial("A partition is down or refused the write: the reply's results say which updates were not stored. Resend those after Retry-After."));
    }
    operation
}

fn read_operation(
    operation_id: &str,
    summary: &str,
    description: &str,
    parameters: Value,
    reply: &str,
    extra_errors: &[&str],
) -> Value {
    let mut responses = json!({
        "200": {"description": "OK.", "content": {"application/json": {"schema": schema_ref(reply)}}},
        "400": response_ref("BadRequest"),
        "401": response_ref("Unauthorized"),
        "503": response_ref("Unavailable")
    });
    if extra_errors.contains(&"404") {
        responses["404"] = response_ref("NotFound");
    }
    json!({
        "tags": ["reads"],
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "security": [{"operatorToken": []}],
        "parameters": parameters,
        "responses": responses
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn error_response(description: &str, retry_after: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/json": {"schema": schema_ref("Error")}}
    });
    if retry_after {
        response["headers"] = json!({"Retry-After": {"$ref": "#/components/headers/RetryAfter"}});
    }
    response
}

fn responses() -> Value {
    let mut unauthorized = error_response(
        "Missing or wrong bearer token (`error`: unauthorized).",
        false,
    );
    unauthorized["headers"] =
        json!({"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}});
    json!({
        "BadRequest": error_response("The body, a path parameter or a query parameter is invalid (`error`: invalid, with `errors` per field; or bad_request).", false),
        "Unauthorized": unauthorized,
        "NotFound": error_response("Nothing with that id (`error`: not_found).", false),
        "TooLarge": error_response("The body exceeds limits.max_body_bytes (`error`: too_large).", false),
        "Unavailable": error_response("A partition is down or timed out (`error`: unavailable); retry after Retry-After.", true)
    })
}

fn headers() -> Value {
    json!({
        "RetryAfter": {
            "description": "Seconds to wait before retrying (at least 1); the body's `retry_after_ms` has the exact wait.",
            "schema": {"type": "integer", "minimum": 1}
        },
        "ThrottleMs": {
            "description": "Present when the gateway is near its limits: the terminal should space its next requests by this many milliseconds.",
            "schema": {"type": "integer", "minimum": 1}
        }
    })
}

fn parameters() -> Value {
    json!({
        "InstanceId": string_parameter("id", "path", true, "The terminal's instance id.", INSTANCE_ID_PATTERN),
        "Ticket": string_parameter("ticket", "path", true, "The position ticket (decimal digits of a u64).", "^[0-9]{1,20}$"),
        "InstanceHeader": string_parameter("x-tradestate-instance", "header", false, "The terminal, when the batch body has no `instance_id`.", INSTANCE_ID_PATTERN),
        "After": string_parameter("after", "query", false, "A stream entry id (`<ms>-<seq>`, or `<ms>` meaning `<ms>-0`) as returned in `id`; entries after it.", ENTRY_ID_PATTERN)
    })
}

/// A parameter object for a string `name` carried `location` (`path`, `header` or `query`) that
/// must match `pattern`.
fn string_parameter(
    name: &str,
    location: &str,
    required: bool,
    description: &str,
    pattern: &str,
) -> Value {
    json!({
        "name": name, "in": location, "required": required,
        "description": description,
        "schema": {"type": "string", "pattern": pattern}
    })
}

/// The contract's schemas (from mt5-bridge) plus the gateway's replies.
fn schemas() -> Value {
    let mut schemas = Map::new();
    let mut contract = tradestate_mt5_bridge::json_schema();
    rewrite_refs(&mut contract);
    if let Value::Object(mut root) = contract {
        if let Some(Value::Object(defs)) = root.remove("$defs") {
            schemas.extend(defs);
        }
        root.remove("$schema");
        root.remove("$id");
        root.insert("title".into(), "Batch".into());
        schemas.insert("Batch".into(), Value::Object(root));
    }
    let stored = |name: &str, extra: Value, required: &[&str]| -> Value {
        let mut schema = schemas.get(name).cloned().unwrap_or_else(|| json!({}));
        if let (Some(props), Value::Object(extra)) = (
            schema.get_mut("properties").and_then(Value::as_object_mut),
            extra,
        ) {
            props.extend(extra);
        }
        if let Some(list) = schema.get_mut("required").and_then(Value::as_array_mut) {
            list.extend(required.iter().map(|r| json!(r)));
        }
        json!({"anyOf": [schema, schema_ref("Undecodable")]})
    };
    let instance_id = json!({"type": "string", "description": "The terminal that sent it."});
    let received =
        json!({"type": "integer", "description": "When the gateway stored it (UTC ms)."});
    let stored_instance = stored(
        "InstanceState",
        json!({"instance_id": instance_id, "received_msc": received}),
        &["instance_id", "received_msc"],
    );
    let stored_trade = stored(
        "TradeState",
        json!({
            "instance_id": instance_id,
            "received_msc": received,
            "closed_by": {
                "type": "string",
                "enum": ["snapshot"],
                "description": "Present when the gateway, not the terminal, closed the position or cancelled the order: a positions snapshot did not list it. `time_close_msc` is then the snapshot's time and there is no `price_close`; the terminal's own close, when it comes, replaces this state."
            }
        }),
        &["instance_id", "received_msc"],
    );
    let signal_entry = stored(
        "TradeSignal",
        json!({
            "id": {"type": "string", "pattern": ENTRY_ID_PATTERN, "description": "The stream entry id; pass it as `after` / Last-Event-ID."},
            "instance_id": instance_id
        }),
        &["id", "instance_id"],
    );
    let gateway = json!({
        "StoredInstanceState": stored_instance,
        "StoredTradeState": stored_trade,
        "SignalEntry": signal_entry,
        "Undecodable": {
            "type": "object",
            "description": "A stored object that no longer decodes as the contract type: its fields as stored text, and why.",
            "required": ["decode_errors"],
            "properties": {
                "decode_errors": {"type": "array", "items": schema_ref("FieldError")},
                "received_msc": {"type": "integer"}
            },
            "additionalProperties": {"type": "string"}
        },
        "FieldError": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "field": {"type": "string", "description": "Path of the field, e.g. `updates[2].volume`; `$` for the whole body."},
                "message": {"type": "string"}
            }
        },
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "enum": ["unauthorized", "invalid", "too_large", "bad_request", "not_found", "unavailable", "terminal_rate", "global_rate", "queue_full"]},
                "message": {"type": "string", "description": "What went wrong and how to fix it."},
                "errors": {"type": "array", "items": schema_ref("FieldError"), "description": "Per-field problems (`invalid`)."},
                "retry_after_ms": {"type": "integer", "description": "With 429 and 503: how long to wait before retrying."}
            }
        },
        "ItemResult": {
            "type": "object",
            "description": "What became of one update. Acknowledged, never resend: stored, coalesced (a newer update of the same key was stored), stale (`seq` not newer than `stored_seq`), duplicate (a retry of a stored update or signal), spooled (written, checksummed and synced per policy, to the gateway's spill log because the partition is down or slow; the gateway writes it to the partition when it takes writes again, through the same stale and duplicate checks), volatile (stored in a partition whose engine keeps no append-only file: lost if that process dies before its next snapshot; only when an operator configured the partition so). Not acknowledged, resend: unavailable, refused, terminal_rate, global_rate, queue_full.",
            "required": ["kind", "seq", "status"],
            "properties": {
                "kind": {"type": "string", "enum": ["instance", "trade", "signal", "positions"]},
                "seq": {"type": "integer", "minimum": 0},
                "status": {"type": "string", "enum": ["stored", "coalesced", "stale", "duplicate", "spooled", "volatile", "unavailable", "refused", "terminal_rate", "global_rate", "queue_full"]},
                "entry_id": {"type": "string", "description": "Signals stored or volatile: the stream entry id. A spooled signal has none yet."},
                "stored_seq": {"type": "integer", "description": "stale: the seq already stored."},
                "error": {"type": "string", "description": "Why it was not stored."}
            }
        },
        "BatchReply": {
            "type": "object",
            "required": ["instance_id", "results", "throttle_ms"],
            "properties": {
                "instance_id": {"type": "string"},
                "results": {"type": "array", "items": schema_ref("ItemResult"), "description": "One per update, in order."},
                "throttle_ms": {"type": "integer", "minimum": 0, "description": "Slow down hint; 0 when there is no pressure."},
                "renumber_above": {"type": "integer", "minimum": 0, "description": "Present once after an update of this terminal that was answered `spooled` turned out stale when it was written (its key holds this seq, from another numbering of the terminal, e.g. a reinstall whose clock is behind): number every update above it from now on and re-send the current state and recent closes."}
            }
        },
        "SingleReply": {
            "allOf": [
                schema_ref("ItemResult"),
                {
                    "type": "object",
                    "required": ["instance_id", "throttle_ms"],
                    "properties": {
                        "instance_id": {"type": "string"},
                        "throttle_ms": {"type": "integer", "minimum": 0},
                        "renumber_above": {"type": "integer", "minimum": 0, "description": "As in BatchReply."}
                    }
                }
            ]
        },
        "InstanceStatus": {"type": "string", "enum": ["online", "stale", "offline"]},
        "InstanceSummary": {
            "type": "object",
            "required": ["instance_id", "status", "last_seen_msc", "state"],
            "properties": {
                "instance_id": {"type": "string"},
                "status": schema_ref("InstanceStatus"),
                "last_seen_msc": {"type": "integer", "description": "Last heartbeat received (UTC ms)."},
                "state": {"oneOf": [schema_ref("StoredInstanceState"), {"type": "null"}], "description": "null when offline (expired)."}
            }
        },
        "InstanceList": {
            "type": "object",
            "required": ["now_msc", "stale_after_ms", "offline_after_ms", "totals", "instances"],
            "properties": {
                "now_msc": {"type": "integer", "description": "The gateway's clock when classifying."},
                "stale_after_ms": {"type": "integer"},
                "offline_after_ms": {"type": "integer"},
                "totals": {
                    "type": "object",
                    "required": ["online", "stale", "offline", "all"],
                    "properties": {
                        "online": {"type": "integer"}, "stale": {"type": "integer"},
                        "offline": {"type": "integer"}, "all": {"type": "integer"}
                    }
                },
                "instances": {"type": "array", "items": schema_ref("InstanceSummary")}
            }
        },
        "InstanceDetail": {
            "allOf": [
                schema_ref("InstanceSummary"),
                {
                    "type": "object",
                    "required": ["trades"],
                    "properties": {
                        "trades": {
                            "type": "object",
                            "required": ["open", "closed"],
                            "properties": {
                                "open": {"type": "integer", "description": "Tickets in the open set."},
                                "closed": {"type": "integer", "description": "Closed tickets still indexed (within retention)."}
                            }
                        }
                    }
                }
            ]
        },
        "TradeList": {
            "type": "object",
            "required": ["instance_id", "state", "limit", "total", "trades"],
            "properties": {
                "instance_id": {"type": "string"},
                "state": {"type": "string", "enum": ["open", "closed"], "description": "open: live trades (open positions, pending orders); closed: closed positions, cancelled and filled orders."},
                "limit": {"type": "integer"},
                "total": {"type": "integer", "description": "Tickets in the index; more than the trades listed when truncated by `limit`."},
                "trades": {"type": "array", "items": schema_ref("StoredTradeState")}
            }
        },
        "SignalPage": {
            "type": "object",
            "required": ["stream", "count", "next_after", "signals"],
            "properties": {
                "stream": {"type": "string", "description": "The stream key (policy.rtss_stream)."},
                "count": {"type": "integer"},
                "next_after": {"type": ["string", "null"], "description": "Pass as `after` for the next page: the last returned id, else the `after` given; null when neither."},
                "signals": {"type": "array", "items": schema_ref("SignalEntry"), "description": "Oldest first."}
            }
        },
        "Health": {
            "type": "object", "required": ["status"],
            "properties": {"status": {"type": "string", "const": "ok"}}
        },
        "Ready": {
            "type": "object",
            "required": ["ready", "spilling", "partitions"],
            "properties": {
                "ready": {"type": "boolean"},
                "spilling": {"type": "boolean", "description": "True while any partition's new updates go to its spill log or spooled updates still wait to be written."},
                "partitions": {
                    "type": "object",
                    "description": "By partition name (ris, rts, rtss).",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["backend", "status"],
                        "properties": {
                            "backend": {"type": "string", "description": "URL without credentials."},
                            "status": {"type": "string", "description": "`up`, or why not."},
                            "spill": schema_ref("Spill")
                        }
                    }
                }
            }
        },
        "Spill": {
            "type": "object",
            "description": "One partition's share of the gateway's spill log: updates acknowledged as `spooled` and not yet written to the partition.",
            "required": ["records", "bytes", "oldest_age_ms", "spilling", "replaying_startup"],
            "properties": {
                "records": {"type": "integer", "minimum": 0, "description": "Updates waiting; 0 when the partition has caught up."},
                "bytes": {"type": "integer", "minimum": 0, "description": "Their size in the spill log on disk."},
                "oldest_age_ms": {"type": ["integer", "null"], "minimum": 0, "description": "Age of the oldest waiting update; null when none waits."},
                "spilling": {"type": "boolean", "description": "Whether new updates for this partition go to the spill log now (it is down or slow)."},
                "replaying_startup": {"type": "boolean", "description": "Records a previous run left are still being written; the gateway is not ready until they are."},
                "error": {"type": "string", "description": "Set when the spill log read at start had a damaged record: which files were set aside and not replayed."}
            }
        }
    });
    if let Value::Object(gateway) = gateway {
        schemas.extend(gateway);
    }
    Value::Object(schemas)
}

/// Points the bridge schema's `#/$defs/X` references at `#/components/schemas/X`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/components/schemas/{name}");
                        }
                    }
                    other => rewrite_refs(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_routed_path_is_documented() {
        let listed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
            .collect();
        assert_eq!(listed.len(), ROUTES.len(), "a (method, path) listed twice");
        assert!(listed.len() >= 13, "routes: {listed:?}");
        assert_eq!(documented(&document()), listed, "document vs http::ROUTES");
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for target in refs {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external ref {target}"));
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match inner {
                        Value::String(target) if key == "$ref" => out.push(target.clone()),
                        other => collect_refs(other, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn orders_snapshots_and_closed_by_are_documented() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["PositionsSnapshot"].is_object());
        assert!(schemas["ItemResult"]["properties"]["kind"]["enum"]
            .as_array()
            .is_some_and(|kinds| kinds.contains(&json!("positions"))));
        let states = schemas["TradeStatus"]["enum"].to_string();
        for state in ["pending", "cancelled", "filled"] {
            assert!(states.contains(state), "{states}");
        }
        let stored = schemas["StoredTradeState"].to_string();
        assert!(stored.contains("closed_by"), "{stored}");
        let ingest = doc["paths"]["/v1/ingest"]["post"]["description"].to_string();
        assert!(ingest.contains("`positions`"), "{ingest}");
    }

    #[test]
    fn committed_copy_is_current() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        let text = document_text();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &text).expect("write openapi.json");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "gateway/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p tradestate-gateway --lib openapi` and commit it"
        );
    }
}
