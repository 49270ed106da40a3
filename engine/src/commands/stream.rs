//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM and XINFO STREAM, in the order
//! Redis 7.0's `t_stream.c` checks things (which error wins, whether the key is looked up
//! first). Parsing, ID rules and trimming live in [`crate::types::stream`].

use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::protocol::reply::Reply;
use crate::types::stream::{
    parse_add_or_trim_args, parse_range_end, parse_range_start, NodeLimits, StreamEntry,
    StreamError, StreamId,
};
use crate::types::{Stream, Value};

/// XINFO STREAM FULL shows this many entries unless COUNT says otherwise.
const XINFO_FULL_DEFAULT_COUNT: usize = 10;

impl From<StreamError> for CmdError {
    fn from(e: StreamError) -> Self {
        CmdError::msg(e.message())
    }
}

/// Redis compares option names with `strcasecmp`, so bytes after a NUL are not seen.
fn is_option(arg: &[u8], name: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(name.as_bytes())
}

/// The node size limits, read from the config on every add as Redis does.
fn node_limits(ctx: &Ctx) -> NodeLimits {
    NodeLimits {
        max_bytes: ctx.server.config.stream_node_max_bytes,
        max_entries: ctx.server.config.stream_node_max_entries,
    }
}

fn wrong_arity(command: &str) -> CmdError {
    CmdError::msg(format!(
        "ERR wrong number of arguments for '{command}' command"
    ))
}

fn as_stream(value: Option<&mut Value>) -> Result<Option<&mut Stream>, CmdError> {
    match value {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Writes an ID as a bulk string (`ms-seq`).
fn reply_id(out: &mut Reply, id: StreamId) {
    let mut ms = itoa::Buffer::new();
    let mut seq = itoa::Buffer::new();
    let (ms, seq) = (ms.format(id.ms).as_bytes(), seq.format(id.seq).as_bytes());
    let mut text = [0u8; 41];
    let len = ms.len() + 1 + seq.len();
    text[..ms.len()].copy_from_slice(ms);
    text[ms.len()] = b'-';
    text[ms.len() + 1..len].copy_from_slice(seq);
    out.bulk(&text[..len]);
}

/// One entry as XRANGE shows it: `[id, [field, value, ...]]` (arrays in RESP3 too).
fn reply_entry(out: &mut Reply, entry: &StreamEntry) {
    out.array(2);
    reply_id(out, entry.id());
    out.array(entry.num_fields() * 2);
    for (field, value) in entry.fields() {
        out.bulk(field);
        out.bulk(value);
    }
}

/// An array of entries.
fn reply_entries<'a>(out: &mut Reply, entries: impl Iterator<Item = StreamEntry<'a>>) {
    let entries: Vec<StreamEntry> = entries.collect();
    out.array(entries.len());
    for entry in &entries {
        reply_entry(out, entry);
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [...]
pub fn xadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let args = &argv[2..];
    let limits = node_limits(ctx);
    let parsed = parse_add_or_trim_args(args, true, limits.max_entries)?;
    let n = args.len();
    if n < parsed.id_index + 3 || (n - parsed.id_index - 1) % 2 == 1 {
        return Err(wrong_arity("xadd"));
    }
    // 0-0 is refused before the key is looked up, so it neither reports WRONGTYPE nor leaves
    // an empty stream behind.
    parsed.id.validate()?;
    let fields: Vec<(&[u8], &[u8])> = args[parsed.id_index + 1..]
        .chunks_exact(2)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    let now_ms = ctx.now_ms.max(0) as u64;
    let stream = match ctx.write(key) {
        Some(Value::Stream(s)) => s,
        Some(_) => return Err(CmdError::WrongType),
        None if parsed.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        // Redis creates the key before appending; only a failing append to a fresh stream
        // ("Elements are too large") would leave it empty, as there.
        None => match ctx.db().insert_new(key, Value::Stream(Box::default())) {
            Value::Stream(s) => s,
            _ => return Err(CmdError::WrongType), // cannot happen: a stream was just inserted
        },
    };
    let id = stream.xadd(parsed.id, &fields, now_ms, limits)?;
    if let Some(trim) = parsed.trim {
        stream.trim(trim);
    }
    reply_id(ctx.out, id);
    Ok(())
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let len = as_stream(ctx.read(argv[1]))?.map_or(0, |s| s.len());
    ctx.out.int(len as i64);
    Ok(())
}

/// XRANGE key start end [COUNT n]
pub fn xrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, false)
}

/// XREVRANGE key end start [COUNT n]
pub fn xrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, true)
}

fn range_generic(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    // The start bound is checked first, also in XREVRANGE where it is the second ID.
    let start = parse_range_start(start_arg)?;
    let end = parse_range_end(end_arg)?;
    let mut count: Option<usize> = None;
    let mut i = 4;
    while i < argv.len() {
        if is_option(argv[i], "count") && i + 1 < argv.len() {
            count = Some(arg_i64(argv[i + 1])?.max(0) as usize);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (value, out) = ctx.read_with_out(argv[1]);
    match as_stream(value)? {
        None => out.array(0),
        // COUNT 0 (or negative) is a null array, but only for an existing stream.
        Some(_) if count == Some(0) => out.null_array(),
        Some(s) => reply_entries(
            out,
            s.iter_range(start, end, rev)
                .take(count.unwrap_or(usize::MAX)),
        ),
    }
    Ok(())
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Every ID is checked before anything is deleted, but a missing key replies 0 first.
    let ids: Result<Vec<StreamId>, StreamError> = argv[2..]
        .iter()
        .map(|a| StreamId::parse_strict(a))
        .collect();
    let Some(stream) = as_stream(ctx.write(argv[1]))? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = stream.delete(&ids?);
    ctx.out.int(deleted as i64);
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let parsed = parse_add_or_trim_args(&argv[2..], false, node_limits(ctx).max_entries)?;
    let Some(stream) = as_stream(ctx.write(argv[1]))? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = parsed.trim.map_or(0, |trim| stream.trim(trim));
    ctx.out.int(removed as i64);
    Ok(())
}

/// XINFO STREAM key [FULL [COUNT n]]
pub fn xinfo_stream(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (value, out) = ctx.read_with_out(argv[2]);
    let stream = match as_stream(value)? {
        Some(s) => s,
        None => return Err(CmdError::NoSuchKey),
    };
    // The options are parsed only once the key is known to hold a stream.
    let full = match parse_xinfo_stream_options(argv)? {
        None => {
            reply_stream_summary(out, stream);
            return Ok(());
        }
        Some(count) => count,
    };
    reply_stream_header(out, stream, 9);
    out.bulk(b"entries");
    reply_entries(out, stream.iter().take(full));
    out.bulk(b"groups");
    out.array(0);
    Ok(())
}

/// `None` for the summary form, or `Some(max entries)` for FULL (COUNT 0 = all, negative =
/// the default).
fn parse_xinfo_stream_options(argv: &[&[u8]]) -> Result<Option<usize>, CmdError> {
    let syntax = || {
        CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            super::c_text(argv[1], 128)
        ))
    };
    match argv.len() {
        3 => Ok(None),
        4 | 6 => {
            if !is_option(argv[3], "full") {
                return Err(syntax());
            }
            if argv.len() == 4 {
                return Ok(Some(XINFO_FULL_DEFAULT_COUNT));
            }
            if !is_option(argv[4], "count") {
                return Err(syntax());
            }
            Ok(Some(match arg_i64(argv[5])? {
                n if n < 0 => XINFO_FULL_DEFAULT_COUNT,
                0 => usize::MAX,
                n => n as usize,
            }))
        }
        _ => Err(syntax()),
    }
}

/// The fields both XINFO STREAM forms start with, after a map header of `pairs`.
fn reply_stream_header(out: &mut Reply, stream: &Stream, pairs: usize) {
    out.map(pairs);
    out.bulk(b"length");
    out.int(stream.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(stream.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(stream.radix_tree_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, stream.last_id());
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, stream.max_deleted_entry_id());
    out.bulk(b"entries-added");
    out.int(stream.entries_added() as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, stream.first_id());
}

fn reply_stream_summary(out: &mut Reply, stream: &Stream) {
    reply_stream_header(out, stream, 10);
    out.bulk(b"groups");
    // Consumer groups are not implemented yet: a stream never has any.
    out.int(0);
    out.bulk(b"first-entry");
    match stream.first_entry() {
        Some(entry) => reply_entry(out, &entry),
        None => out.null(),
    }
    out.bulk(b"last-entry");
    match stream.last_entry() {
        Some(entry) => reply_entry(out, &entry),
        None => out.null(),
    }
}

/// XINFO HELP
pub fn xinfo_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    const LINES: &[&str] = &[
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
    ];
    super::server::reply_help(ctx, argv[0], LINES);
    Ok(())
}
