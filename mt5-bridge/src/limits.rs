//! The limits of the contract, as public constants shared by validation, the JSON Schema and
//! the gateway (which sizes its body limit from them).

/// Most updates one batch may carry; a terminal with more splits them over several requests.
pub const MAX_BATCH_UPDATES: usize = 1000;

/// Longest free-text field (server, symbol, comment, ...), in characters (JSON Schema's
/// `maxLength` counts characters too).
pub const MAX_STRING_LEN: usize = 256;

/// Longest `instance_id` / `signal_id`.
pub const MAX_ID_LEN: usize = 64;

/// Longest ticket: u64::MAX has 20 decimal digits.
pub const MAX_TICKET_LEN: usize = 20;

/// Largest magnitude accepted for money, prices and volumes. Beyond 1e15 an f64 no longer
/// resolves cents, so such a value is a bug in the sender, not a real balance.
pub const MAX_ABS_AMOUNT: f64 = 1e15;

/// Earliest plausible timestamp: 2000-01-01T00:00:00Z in ms. Smaller values are seconds sent
/// where milliseconds were meant, or an unset time.
pub const MIN_TIME_MSC: i64 = 946_684_800_000;

/// Latest plausible timestamp: 2100-01-01T00:00:00Z in ms (microseconds sent by mistake land
/// far beyond it). Fixed rather than "now + 1 day" so validation does not depend on the clock.
pub const MAX_TIME_MSC: i64 = 4_102_444_800_000;

/// JSON Schema pattern for `instance_id` (the code check is `validate_instance_id`).
pub const INSTANCE_ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// JSON Schema pattern for `signal_id` (the code check is `validate_signal_id`).
pub const SIGNAL_ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

/// JSON Schema pattern for `ticket`: canonical decimal, no leading zero (the code check,
/// `validate_ticket`, also bounds it to u64).
pub const TICKET_PATTERN: &str = "^[1-9][0-9]{0,19}$";
