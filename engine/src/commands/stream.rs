//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XSETID and XINFO
//! STREAM / HELP, in the order Redis 7.0's `t_stream.c` checks things (which error wins, whether
//! the key is looked up first), and the reply and argument helpers the consumer-group commands
//! (`stream_group.rs`) share. XREAD and XREADGROUP are one command in Redis, so their parsing
//! and dispatch live here and only the group side of a read lives with the groups. Parsing, ID
//! rules and trimming live in [`crate::types::stream`].

use super::server::subcommand_syntax_error;
use super::stream_group::{reply_full_groups, GroupRead};
use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::notify::class;
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
pub(super) fn is_option(arg: &[u8], name: &str) -> bool {
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

pub(super) fn as_stream(value: Option<&mut Value>) -> Result<Option<&mut Stream>, CmdError> {
    match value {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Writes an ID as a bulk string (`ms-seq`).
pub(super) fn reply_id(out: &mut Reply, id: StreamId) {
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
pub(super) fn reply_entry(out: &mut Reply, entry: &StreamEntry) {
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

/// An argument as Redis's `%s` shows it in an error: C string (up to the first NUL). CR/LF are
/// turned into spaces by the reply writer.
pub(super) fn err_arg(arg: &[u8]) -> String {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

/// `strcmp(arg, text) == 0`: the argument as a C string equals `text`.
pub(super) fn c_eq(arg: &[u8], text: &[u8]) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    &arg[..end] == text
}

/// A scratch reply in the client's protocol, for replies whose length is known only at the end.
pub(super) fn scratch(out: &Reply) -> Reply {
    Reply {
        buf: Vec::new(),
        resp3: out.resp3,
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
    let trimmed = parsed.trim.map_or(0, |trim| stream.trim(trim));
    ctx.notify(class::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
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
    if deleted > 0 {
        ctx.notify(class::STREAM, "xdel", argv[1]);
    }
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
    if removed > 0 {
        ctx.notify(class::STREAM, "xtrim", argv[1]);
    }
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
    reply_stream_info_header(out, stream, 9);
    out.bulk(b"entries");
    reply_entries(out, stream.iter().take(full));
    out.bulk(b"groups");
    reply_full_groups(out, stream, full);
    Ok(())
}

/// `None` for the summary form, or `Some(max entries)` for FULL (COUNT 0 = all, negative =
/// the default).
fn parse_xinfo_stream_options(argv: &[&[u8]]) -> Result<Option<usize>, CmdError> {
    let syntax = || subcommand_syntax_error(argv);
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
fn reply_stream_info_header(out: &mut Reply, stream: &Stream, pairs: usize) {
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
    reply_stream_info_header(out, stream, 10);
    out.bulk(b"groups");
    out.int(stream.groups().len() as i64);
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

// --- XREAD / XREADGROUP ----------------------------------------------------------------------

/// What a stream of an XREAD / XREADGROUP is read after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadFrom {
    /// Entries with IDs above this one (XREAD; XREADGROUP history).
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

/// The parsed options of XREAD / XREADGROUP.
struct ReadArgs<'a> {
    count: usize,
    /// BLOCK's timeout (`Some(None)`: BLOCK 0, forever).
    block: Option<Option<std::time::Duration>>,
    noack: bool,
    group: Option<(&'a [u8], &'a [u8])>,
    keys: &'a [&'a [u8]],
    ids: &'a [&'a [u8]],
}

fn parse_read_args<'a>(argv: &'a [&'a [u8]], xreadgroup: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut args = ReadArgs {
        count: 0,
        block: None,
        noack: false,
        group: None,
        keys: &[],
        ids: &[],
    };
    let mut streams_arg = None;
    let mut i = 1;
    while i < argv.len() {
        let moreargs = argv.len() - i - 1;
        let opt = argv[i];
        if is_option(opt, "block") && moreargs > 0 {
            i += 1;
            args.block = Some(crate::blocking::parse_ms_timeout(argv[i])?);
        } else if is_option(opt, "count") && moreargs > 0 {
            i += 1;
            args.count = arg_i64(argv[i])?.max(0) as usize;
        } else if is_option(opt, "streams") && moreargs > 0 {
            let rest = &argv[i + 1..];
            if !rest.len().is_multiple_of(2) {
                // 7.0 says XREAD and '$' for XREADGROUP too.
                return Err(CmdError::msg(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must \
                     be specified.",
                ));
            }
            streams_arg = Some(i + 1);
            break;
        } else if is_option(opt, "group") && moreargs >= 2 {
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD \
                     instead.",
                ));
            }
            args.group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if is_option(opt, "noack") {
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD \
                     instead.",
                ));
            }
            args.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(start) = streams_arg else {
        return Err(CmdError::Syntax);
    };
    if xreadgroup && args.group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (argv.len() - start) / 2;
    args.keys = &argv[start..start + n];
    args.ids = &argv[start + n..];
    Ok(args)
}

/// Checks every stream in order (type, group, ID) like Redis before serving any, and resolves
/// the IDs.
fn resolve_read_ids(ctx: &mut Ctx, args: &ReadArgs) -> Result<Vec<ReadFrom>, CmdError> {
    let mut from = Vec::with_capacity(args.keys.len());
    for (key, id) in args.keys.iter().zip(args.ids) {
        let stream = as_stream(ctx.read(key))?.map(|s| &*s);
        if let Some((group, _)) = args.group {
            if stream.is_none_or(|s| s.groups().get(group).is_none()) {
                return Err(CmdError::msg(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP \
                     option",
                    err_arg(key),
                    err_arg(group)
                )));
            }
        }
        if c_eq(id, b"$") {
            if args.group.is_some() {
                return Err(CmdError::msg(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read \
                     the history of this consumer by specifying a proper ID, or use the > ID to \
                     get new messages. The $ ID would just return an empty result set.",
                ));
            }
            from.push(ReadFrom::After(
                stream.map_or(StreamId::MIN, |s| s.last_id()),
            ));
        } else if c_eq(id, b">") {
            if args.group.is_none() {
                return Err(CmdError::msg(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP \
                     <group> <consumer> option.",
                ));
            }
            from.push(ReadFrom::New);
        } else {
            // Redis marks `>` with the maximum ID internally, so that ID reads as `>` too.
            let id = StreamId::parse_strict(id)?;
            from.push(if args.group.is_some() && id == StreamId::MAX {
                ReadFrom::New
            } else {
                ReadFrom::After(id)
            });
        }
    }
    Ok(from)
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    read_generic(ctx, argv, false)
}

pub(super) fn read_generic(ctx: &mut Ctx, argv: &[&[u8]], xreadgroup: bool) -> CmdResult {
    let args = parse_read_args(argv, xreadgroup)?;
    let from = resolve_read_ids(ctx, &args)?;
    let now = ctx.now_ms;
    let mut body = scratch(ctx.out);
    let mut served = 0;
    let from_ids = from.clone();
    for (key, from) in args.keys.iter().zip(from) {
        let Some(stream) = as_stream(ctx.read(key))? else {
            continue;
        };
        let count = args.count;
        let done = match args.group {
            None => read_plain(&mut body, stream, key, from, count),
            Some((group, consumer)) => stream.with_groups(|s, groups| {
                let Some(g) = groups.get_mut(group) else {
                    return false;
                };
                let read = GroupRead {
                    key,
                    consumer,
                    count,
                    noack: args.noack,
                    now,
                };
                read.serve(&mut body, s, g, from)
            }),
        };
        served += usize::from(done);
    }
    if served == 0 {
        match args.block {
            Some(timeout) => request_read_block(ctx, argv, &args, &from_ids, timeout),
            None => ctx.out.null_array(),
        }
        return Ok(());
    }
    if ctx.out.resp3 {
        ctx.out.map(served);
    } else {
        ctx.out.array(served);
    }
    ctx.out.buf.extend_from_slice(&body.buf);
    Ok(())
}

/// Blocks an XREAD / XREADGROUP that found nothing. XREAD's `$` is saved as the ID it stood
/// for now, so the re-run reads what was added after the client blocked.
fn request_read_block(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    args: &ReadArgs,
    from: &[ReadFrom],
    timeout: Option<std::time::Duration>,
) {
    let kind = if args.group.is_some() {
        crate::blocking::BlockKind::StreamGroup
    } else {
        crate::blocking::BlockKind::Stream
    };
    super::list::request_block(ctx, kind, args.keys, timeout);
    let first_id = argv.len() - args.ids.len();
    let rewrites = args
        .ids
        .iter()
        .zip(from)
        .enumerate()
        .filter_map(|(i, (id, from))| match from {
            ReadFrom::After(after) if c_eq(id, b"$") => {
                Some((first_id + i, after.to_string().into_bytes()))
            }
            _ => None,
        })
        .collect();
    if let Some(request) = ctx.client.block_request.as_mut() {
        request.rewrites = rewrites;
    }
}

/// The `[key, entries]` pair of one served stream (a map entry in RESP3).
pub(super) fn reply_stream_header(out: &mut Reply, key: &[u8]) {
    if !out.resp3 {
        out.array(2);
    }
    out.bulk(key);
}

/// XREAD of one stream: entries after `from` if there is any.
fn read_plain(out: &mut Reply, s: &Stream, key: &[u8], from: ReadFrom, count: usize) -> bool {
    let ReadFrom::After(after) = from else {
        return false;
    };
    let has_newer = s.last_entry().is_some_and(|e| e.id() > after);
    if !has_newer {
        return false;
    }
    reply_stream_header(out, key);
    let start = after.incr().unwrap_or(StreamId::MIN);
    let limit = if count == 0 { usize::MAX } else { count };
    reply_entries(out, s.iter_range(start, StreamId::MAX, false).take(limit));
    true
}

// --- XSETID ----------------------------------------------------------------------------------

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = StreamId::parse_strict(argv[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        if is_option(argv[i], "entriesadded") && moreargs > 0 {
            let n = arg_i64(argv[i + 1])?;
            if n < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is_option(argv[i], "maxdeletedid") && moreargs > 0 {
            max_deleted = StreamId::parse_strict(argv[i + 1])?;
            if id < max_deleted {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided \
                     max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let Some(stream) = as_stream(ctx.write(argv[1]))? else {
        return Err(CmdError::NoSuchKey);
    };
    if let Some(last) = stream.last_entry().map(|e| e.id()) {
        if id < last {
            return Err(CmdError::msg(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| n < stream.len()) {
            return Err(CmdError::msg(
                "ERR The entries_added specified in XSETID is smaller than the target stream \
                 length",
            ));
        }
    }
    stream.set_last_id(id);
    if let Some(n) = entries_added {
        stream.set_entries_added(n);
    }
    if !max_deleted.is_zero() {
        stream.set_max_deleted_entry_id(max_deleted);
    }
    ctx.out.ok();
    Ok(())
}
