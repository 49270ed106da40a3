//! COMMAND and its subcommands, and what they derive from the command table and Redis's
//! generated metadata (`command_meta.rs`): the flags shown, ACL categories and key positions,
//! which the ACL checks use too.

use super::server::reply_help;
use super::{flags, table, CmdError, CmdResult, CommandSpec, Ctx, Group};
use crate::util::{eq_ignore_case, glob_match};

#[path = "command_meta.rs"]
mod command_meta;

/// What COMMAND INFO reports about a Redis command beyond the command table (generated from
/// Redis 7.0 into `command_meta.rs`).
pub struct CommandMeta {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub keys: (i32, i32, i32),
    /// ACL categories declared explicitly (those implied by the flags are added at runtime).
    pub categories: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
}

/// One key specification (Redis 7 `key_specs`).
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

pub enum Begin {
    Index(i64),
    /// Keyword, start index (negative: from the end).
    Keyword(&'static str, i64),
    Unknown,
}

pub enum Find {
    /// Last key (relative), key step, limit.
    Range(i64, i64, i64),
    /// Index of the key count (relative), first key (relative to it), key step.
    Keynum(i64, i64, i64),
    Unknown,
}

/// The generated metadata of a command by full name (`get`, `config|get`).
pub fn meta(full_name: &str) -> Option<&'static CommandMeta> {
    let all = command_meta::META;
    all.binary_search_by(|m| m.name.cmp(full_name))
        .ok()
        .map(|i| &all[i])
}

/// ACL categories in the order Redis prints them.
pub(crate) const CATEGORY_ORDER: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Flags COMMAND INFO shows (Redis hides `may_replicate` and `sentinel`).
fn flag_names(spec: &CommandSpec) -> Vec<&'static str> {
    flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .filter(|(bit, _)| *bit != flags::MAY_REPLICATE && *bit != flags::SENTINEL)
        .map(|(_, n)| *n)
        .collect()
}

/// The category a command of this group declares when it has no generated metadata.
fn group_category(group: Group) -> Option<&'static str> {
    Some(match group {
        Group::Generic => "keyspace",
        Group::String => "string",
        Group::Hash => "hash",
        Group::Set => "set",
        Group::SortedSet => "sortedset",
        Group::Stream => "stream",
        Group::List => "list",
        Group::Connection => "connection",
        Group::PubSub => "pubsub",
        Group::Transactions => "transaction",
        Group::Scripting => "scripting",
        Group::Bitmap => "bitmap",
        Group::Server => return None,
    })
}

/// Redis's `setImplicitACLCategories` plus the command's declared ones, in Redis's order.
pub(crate) fn acl_categories(spec: &CommandSpec, full_name: &str) -> Vec<&'static str> {
    let f = spec.flags;
    let mut cats: Vec<&'static str> = match meta(full_name) {
        Some(m) => m.categories.to_vec(),
        None => group_category(spec.group).into_iter().collect(),
    };
    let implied = [
        (flags::WRITE, "write"),
        (flags::READONLY, "read"),
        (flags::ADMIN, "admin"),
        (flags::ADMIN, "dangerous"),
        (flags::PUBSUB, "pubsub"),
        (flags::FAST, "fast"),
        (flags::BLOCKING, "blocking"),
    ];
    for (bit, cat) in implied {
        if f & bit != 0 && !(cat == "read" && cats.contains(&"scripting")) {
            cats.push(cat);
        }
    }
    if !cats.contains(&"fast") {
        cats.push("slow");
    }
    cats.sort_by_key(|c| CATEGORY_ORDER.iter().position(|o| o == c));
    cats.dedup();
    cats
}

fn reply_key_spec(ctx: &mut Ctx, ks: &KeySpec) {
    let has_notes = !ks.notes.is_empty();
    ctx.out.map(3 + has_notes as usize);
    if has_notes {
        ctx.out.bulk(b"notes");
        ctx.out.bulk(ks.notes.as_bytes());
    }
    ctx.out.bulk(b"flags");
    ctx.out.set(ks.flags.len());
    for f in ks.flags {
        ctx.out.simple(f);
    }
    ctx.out.bulk(b"begin_search");
    match ks.begin {
        Begin::Index(i) => reply_search(ctx, "index", &[("index", i)]),
        Begin::Keyword(word, from) => {
            reply_search_head(ctx, "keyword", 2);
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(word.as_bytes());
            ctx.out.bulk(b"startfrom");
            ctx.out.int(from);
        }
        Begin::Unknown => reply_search(ctx, "unknown", &[]),
    }
    ctx.out.bulk(b"find_keys");
    match ks.find {
        Find::Range(last, step, limit) => reply_search(
            ctx,
            "range",
            &[("lastkey", last), ("keystep", step), ("limit", limit)],
        ),
        Find::Keynum(idx, first, step) => reply_search(
            ctx,
            "keynum",
            &[("keynumidx", idx), ("firstkey", first), ("keystep", step)],
        ),
        Find::Unknown => reply_search(ctx, "unknown", &[]),
    }
}

/// A key spec's `begin_search` or `find_keys` map up to its `spec` map of `fields` entries.
fn reply_search_head(ctx: &mut Ctx, kind: &str, fields: usize) {
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    ctx.out.bulk(kind.as_bytes());
    ctx.out.bulk(b"spec");
    ctx.out.map(fields);
}

/// A `begin_search` or `find_keys` map whose spec holds only integers.
fn reply_search(ctx: &mut Ctx, kind: &str, fields: &[(&str, i64)]) {
    reply_search_head(ctx, kind, fields.len());
    for (k, v) in fields {
        ctx.out.bulk(k.as_bytes());
        ctx.out.int(*v);
    }
}

/// Redis's `addReplyCommandInfo`.
fn reply_command_info(ctx: &mut Ctx, spec: &CommandSpec, full_name: &str) {
    let m = meta(full_name);
    ctx.out.array(10);
    ctx.out.bulk(full_name.as_bytes());
    ctx.out.int(spec.arity as i64);
    let fl = flag_names(spec);
    ctx.out.set(fl.len());
    for f in fl {
        ctx.out.simple(f);
    }
    ctx.out.int(spec.first_key as i64);
    ctx.out.int(spec.last_key as i64);
    ctx.out.int(spec.step as i64);
    let cats = acl_categories(spec, full_name);
    ctx.out.set(cats.len());
    for c in cats {
        ctx.out.simple(&format!("@{c}"));
    }
    let tips = m.map(|m| m.tips).unwrap_or(&[]);
    ctx.out.set(tips.len());
    for tip in tips {
        ctx.out.bulk(tip.as_bytes());
    }
    let specs = m.map(|m| m.key_specs).unwrap_or(&[]);
    ctx.out.set(specs.len());
    for ks in specs {
        reply_key_spec(ctx, ks);
    }
    if spec.subcommands.is_empty() {
        ctx.out.set(0);
    } else {
        ctx.out.array(spec.subcommands.len());
        for sub in spec.subcommands {
            let name = format!("{}|{}", spec.name, sub.name);
            reply_command_info(ctx, sub, &name);
        }
    }
}

/// COMMAND with no subcommand: every command's info.
pub fn command(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let all = table::COMMANDS;
    ctx.out.array(all.len());
    for spec in all {
        reply_command_info(ctx, spec, spec.name);
    }
    Ok(())
}

pub fn command_count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(table::COMMANDS.len() as i64);
    Ok(())
}

pub fn command_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match find_spec(name) {
            Some((spec, full)) => reply_command_info(ctx, spec, &full),
            // Redis replies a null bulk string here, not a null array.
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Finds a command or a `parent|sub` subcommand by name (Redis's `lookupCommandBySds`).
fn find_spec(name: &[u8]) -> Option<(&'static CommandSpec, String)> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Some((parent, sub)) = text.split_once('|') {
        let p = table::lookup(parent.as_bytes())?;
        let s = p.subcommands.iter().find(|s| s.name == sub)?;
        return Some((s, format!("{}|{}", p.name, s.name)));
    }
    table::lookup(name).map(|s| (s, s.name.to_string()))
}

fn reply_command_docs(ctx: &mut Ctx, spec: &CommandSpec, full: &str) {
    ctx.out.bulk(full.as_bytes());
    let has_subs = !spec.subcommands.is_empty();
    ctx.out.map(4 + has_subs as usize);
    ctx.out.bulk(b"summary");
    ctx.out.bulk(spec.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(spec.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(spec.group.name().as_bytes());
    ctx.out.bulk(b"complexity");
    ctx.out.bulk(spec.complexity.as_bytes());
    if has_subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(spec.subcommands.len());
        for sub in spec.subcommands {
            let name = format!("{}|{}", spec.name, sub.name);
            reply_command_docs(ctx, sub, &name);
        }
    }
}

pub fn command_docs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found: Vec<(&CommandSpec, String)> = if argv.len() == 2 {
        table::COMMANDS
            .iter()
            .map(|s| (s, s.name.to_string()))
            .collect()
    } else {
        argv[2..].iter().filter_map(|n| find_spec(n)).collect()
    };
    ctx.out.map(found.len());
    for (spec, full) in found {
        reply_command_docs(ctx, spec, &full);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: full names of
/// commands and subcommands.
pub fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut filter: Option<(String, &[u8])> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq_ignore_case(argv[i], "filterby") && more == 2 {
            let kind = String::from_utf8_lossy(argv[i + 1]).to_ascii_lowercase();
            if !["module", "aclcat", "pattern"].contains(&kind.as_str()) {
                return Err(CmdError::Syntax);
            }
            filter = Some((kind, argv[i + 2]));
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keep = |spec: &CommandSpec, full: &str| match &filter {
        None => true,
        Some((kind, v)) if kind == "pattern" => glob_match(v, full.as_bytes(), true),
        Some((kind, v)) if kind == "aclcat" => {
            let want = String::from_utf8_lossy(v).to_ascii_lowercase();
            acl_categories(spec, full).contains(&want.as_str())
        }
        // There are no modules.
        Some(_) => false,
    };
    let mut names = Vec::new();
    for spec in table::COMMANDS {
        if keep(spec, spec.name) {
            names.push(spec.name.to_string());
        }
        for sub in spec.subcommands {
            let full = format!("{}|{}", spec.name, sub.name);
            if keep(sub, &full) {
                names.push(full);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// A key found by COMMAND GETKEYS: its argument index and its key-spec flags.
struct FoundKey {
    pos: usize,
    flags: &'static [&'static str],
}

/// Redis's `getKeysUsingKeySpecs`: `None` when a spec cannot be applied (bad key count, keys
/// out of range), which makes the command's arguments invalid.
fn keys_from_specs(specs: &'static [KeySpec], argv: &[&[u8]]) -> Option<Vec<FoundKey>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for ks in specs {
        if ks.flags.contains(&"not_key") {
            continue;
        }
        let first = match ks.begin {
            Begin::Index(i) => i,
            Begin::Keyword(word, from) => {
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 0)
                };
                let mut i = start;
                let mut found = 0;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if eq_ignore_case(argv[i as usize], word) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => continue,
        };
        let (first, last, step) = match ks.find {
            Find::Range(lastkey, step, limit) => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, step)
            }
            Find::Keynum(idx, firstkey, step) => {
                if idx >= argc || first + idx >= argc {
                    return None;
                }
                // More keys than arguments cannot fit (and must not overflow below).
                let n = crate::util::parse_i64(argv[(first + idx) as usize])
                    .filter(|n| (0..=argc).contains(n))?;
                let first = first + firstkey;
                (first, first + n - 1, step)
            }
            Find::Unknown => continue,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push(FoundKey {
                pos: i as usize,
                flags: ks.flags,
            });
            i += step.max(1);
        }
        if ks.flags.contains(&"incomplete") {
            return None;
        }
    }
    Some(out)
}

/// The keys a command uses, for ACL checks: (argument index, needs read, needs write), from
/// the key specs (Redis's `ACLSelectorCheckKey` flags: ACCESS reads; INSERT, DELETE and
/// UPDATE write). Arguments the specs cannot be applied to yield no keys.
pub(crate) fn keys_of(spec: &CommandSpec, full: &str, argv: &[&[u8]]) -> Vec<(usize, bool, bool)> {
    let found = match meta(full) {
        Some(m) => keys_from_specs(m.key_specs, argv).unwrap_or_default(),
        None => keys_from_positions(spec, argv.len()),
    };
    found
        .iter()
        .map(|k| {
            let flags = key_flags(full, argv, k);
            let has = |f: &str| flags.contains(&f);
            (
                k.pos,
                has("access"),
                has("insert") || has("delete") || has("update"),
            )
        })
        .collect()
}

/// Legacy (first, last, step) key positions, for a command without generated key specs.
fn keys_from_positions(spec: &CommandSpec, argc: usize) -> Vec<FoundKey> {
    let mut out = Vec::new();
    if spec.first_key <= 0 {
        return out;
    }
    let last = if spec.last_key < 0 {
        argc as i64 + spec.last_key as i64
    } else {
        spec.last_key as i64
    };
    let mut i = spec.first_key as i64;
    while i <= last && (i as usize) < argc {
        out.push(FoundKey {
            pos: i as usize,
            flags: &[],
        });
        i += spec.step.max(1) as i64;
    }
    out
}

fn getkeys(ctx: &mut Ctx, argv: &[&[u8]], with_flags: bool) -> CmdResult {
    let (target, full) = getkeys_target(argv)?;
    let args = &argv[2..];
    let keys = match meta(&full) {
        Some(m) => keys_from_specs(m.key_specs, args),
        None => Some(keys_from_positions(target, args.len())),
    };
    let Some(keys) = keys.filter(|k| !k.is_empty()) else {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    };
    ctx.out.array(keys.len());
    for k in &keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(args[k.pos]);
            let flags = key_flags(&full, args, k);
            ctx.out.set(flags.len());
            for f in flags {
                ctx.out.simple(f);
            }
        } else {
            ctx.out.bulk(args[k.pos]);
        }
    }
    Ok(())
}

/// Flags of one key: the spec's, except for commands whose flags depend on the arguments
/// (Redis's `setGetKeys`: SET with GET reads the old value).
fn key_flags(full: &str, args: &[&[u8]], key: &FoundKey) -> &'static [&'static str] {
    if full == "set" {
        return if args.iter().skip(3).any(|a| eq_ignore_case(a, "get")) {
            &["RW", "access", "update"]
        } else {
            &["OW", "update"]
        };
    }
    key.flags
}

pub fn command_getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, false)
}

pub fn command_getkeysandflags(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, true)
}

/// The command COMMAND GETKEYS asks about, with Redis's checks in its order: the command (or
/// subcommand) exists, has key arguments, and gets a valid number of arguments.
fn getkeys_target(argv: &[&[u8]]) -> Result<(&'static CommandSpec, String), CmdError> {
    let args = &argv[2..];
    let invalid = || CmdError::msg("ERR Invalid command specified");
    let spec = table::lookup(args[0]).ok_or_else(invalid)?;
    let (target, full) = if args.len() >= 2 && !spec.subcommands.is_empty() {
        let sub = spec
            .subcommands
            .iter()
            .find(|s| args[1].eq_ignore_ascii_case(s.name.as_bytes()))
            .ok_or_else(invalid)?;
        (sub, format!("{}|{}", spec.name, sub.name))
    } else {
        (spec, spec.name.to_string())
    };
    let has_keys = match meta(&full) {
        Some(m) => m.key_specs.iter().any(|k| !k.flags.contains(&"not_key")),
        None => target.first_key > 0,
    };
    if !has_keys {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let argc = args.len() as i32;
    if (target.arity > 0 && target.arity != argc) || argc < -target.arity {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    Ok((target, full))
}

pub fn command_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ];
    reply_help(ctx, argv[0], &lines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_sorted_and_found() {
        let all = command_meta::META;
        assert!(all.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(meta("get").map(|m| m.categories), Some(&["string"][..]));
        assert!(meta("config|set").is_some_and(|m| !m.tips.is_empty()));
    }

    /// Every command the table has that Redis 7.0 also has must declare Redis's arity, flags
    /// and key positions: COMMAND INFO, dispatch and the ACL categories derive from them.
    #[test]
    fn table_matches_redis_metadata() {
        let mut wrong = Vec::new();
        let check = |spec: &CommandSpec, full: &str, wrong: &mut Vec<String>| {
            let Some(m) = meta(full) else { return };
            let ours = flag_names(spec);
            if m.arity != spec.arity
                || ours != m.flags
                || m.keys != (spec.first_key, spec.last_key, spec.step)
            {
                wrong.push(format!(
                    "{full}: ours arity {} flags {:?} keys {:?}, redis arity {} flags {:?} keys {:?}",
                    spec.arity,
                    ours,
                    (spec.first_key, spec.last_key, spec.step),
                    m.arity,
                    m.flags,
                    m.keys
                ));
            }
        };
        for spec in table::COMMANDS {
            check(spec, spec.name, &mut wrong);
            for sub in spec.subcommands {
                check(sub, &format!("{}|{}", spec.name, sub.name), &mut wrong);
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
