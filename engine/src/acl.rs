//! Users and permissions (Redis 7 ACL): users with passwords, allowed commands, key and
//! channel patterns; the checks `execute` runs before a command (NOAUTH, NOPERM); AUTH's
//! credential check; the protected-mode decision for new connections.
//!
//! Passwords are kept as SHA-256 hex digests, as Redis does (ACL LIST / GETUSER show them).
//! Command permissions are a bit per command-table stats slot (commands and subcommands), so
//! a check is one index. Selectors (`(...)`) are not supported: such rules are refused with
//! Redis's syntax error. First-argument rules (`+select|0`) are, as in Redis 7.0.

use std::collections::BTreeMap;

use crate::commands::server::{acl_categories, keys_of, CATEGORY_ORDER};
use crate::commands::{table, CmdError, CommandSpec};
use crate::util::glob_match;

/// A key pattern and the access it grants (`~p` both, `%R~p` read, `%W~p` write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    /// `~p`, `%R~p` or `%W~p`, as ACL LIST writes it.
    fn describe(&self) -> String {
        let prefix = match (self.read, self.write) {
            (true, false) => "%R~",
            (false, true) => "%W~",
            _ => "~",
        };
        format!("{prefix}{}", String::from_utf8_lossy(&self.pattern))
    }
}

/// One user.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// `Some(true)` sanitize-payload, `Some(false)` skip-sanitize-payload, `None` neither.
    pub sanitize_payload: Option<bool>,
    /// SHA-256 hex digests, in the order added.
    pub passwords: Vec<String>,
    /// Allowed commands, by stats slot.
    allowed: Vec<bool>,
    /// Set by `+@all`/`allcommands`: commands added later would be allowed too.
    all_commands: bool,
    /// [`User::unrestricted`], kept by [`Acl`] after every change: the per-command fast path.
    unrestricted_cached: bool,
    /// First-argument rules (`+select|0`, deprecated in Redis 7 but accepted): by command
    /// slot, the first arguments allowed although the command is not.
    first_args: BTreeMap<usize, Vec<String>>,
    pub all_keys: bool,
    pub key_patterns: Vec<KeyPattern>,
    pub all_channels: bool,
    pub channels: Vec<Vec<u8>>,
}

/// Why a rule was refused (Redis's `ACLSetUserStringError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    UnknownName,
    Syntax,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// Why a command may not run (Redis's `ACL_DENIED_*`), with the offending argument index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no passwords, nothing allowed.
    pub fn new(name: &str) -> Self {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            allowed: vec![false; table::stat_slots()],
            all_commands: false,
            unrestricted_cached: false,
            first_args: BTreeMap::new(),
            all_keys: false,
            key_patterns: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }

    /// The default user of a fresh server: `on nopass ~* &* +@all`.
    pub fn default_user() -> Self {
        let mut u = User::new("default");
        for rule in ["+@all", "~*", "&*", "on", "nopass"] {
            // These rules are fixed and valid.
            let _ = u.apply(rule.as_bytes());
        }
        u
    }

    /// True when nothing is restricted: every command, key and channel.
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.allowed.iter().all(|&a| a) && self.all_keys && self.all_channels
    }

    /// Applies one rule (`on`, `>pass`, `~pattern`, `+@read`, ...).
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        // An empty rule does nothing, as in Redis.
        if rule.is_empty() {
            return Ok(());
        }
        let word = String::from_utf8_lossy(rule).to_ascii_lowercase();
        match word.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize_payload = Some(false),
            "sanitize-payload" => self.sanitize_payload = Some(true),
            // Each of these sets its catch-all flag one way or the other, and either way the
            // explicit list it would override goes.
            "nopass" | "resetpass" => {
                self.nopass = word == "nopass";
                self.passwords.clear();
            }
            "allkeys" | "~*" | "resetkeys" => {
                self.all_keys = word != "resetkeys";
                self.key_patterns.clear();
            }
            "allchannels" | "&*" | "resetchannels" => {
                self.all_channels = word != "resetchannels";
                self.channels.clear();
            }
            "allcommands" | "+@all" => self.set_all_commands(true),
            "nocommands" | "-@all" => self.set_all_commands(false),
            "clearselectors" => {}
            "reset" => {
                for r in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    "off",
                    "sanitize-payload",
                    "-@all",
                ] {
                    self.apply(r.as_bytes())?;
                }
            }
            _ => return self.apply_prefixed(rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let (&first, rest) = rule.split_first().ok_or(RuleError::Syntax)?;
        match first {
            b'>' => {
                self.add_password(sha256_hex(rest));
                Ok(())
            }
            b'#' => {
                self.add_password(valid_hash(rest)?);
                Ok(())
            }
            b'<' => self.remove_password(&sha256_hex(rest)),
            b'!' => self.remove_password(&valid_hash(rest)?),
            b'~' | b'%' => self.add_key_pattern(rule),
            b'&' => {
                if self.all_channels {
                    return Err(RuleError::ChannelAfterAll);
                }
                if rest.iter().any(u8::is_ascii_whitespace) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
                Ok(())
            }
            b'+' | b'-' => self.apply_command_rule(first == b'+', rest),
            _ => Err(RuleError::Syntax),
        }
    }

    fn add_password(&mut self, hash: String) {
        self.nopass = false;
        if !self.passwords.contains(&hash) {
            self.passwords.push(hash);
        }
    }

    fn remove_password(&mut self, hash: &str) -> Result<(), RuleError> {
        let at = self
            .passwords
            .iter()
            .position(|p| p == hash)
            .ok_or(RuleError::NoSuchPassword)?;
        self.passwords.remove(at);
        self.nopass = false;
        Ok(())
    }

    /// `~pattern` or `%<R|W...>~pattern`.
    fn add_key_pattern(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeyAfterAll);
        }
        // Redis's parse: permission letters (each once) up to `~`; without `~` the pattern
        // is empty.
        let (mut read, mut write) = (rule[0] == b'~', rule[0] == b'~');
        let mut offset = 1;
        if rule[0] == b'%' {
            while offset < rule.len() {
                match rule[offset].to_ascii_uppercase() {
                    b'R' if !read => read = true,
                    b'W' if !write => write = true,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
            if !read && !write {
                return Err(RuleError::Syntax);
            }
        }
        let pattern = &rule[offset..];
        if pattern.iter().any(u8::is_ascii_whitespace) {
            return Err(RuleError::Syntax);
        }
        match self.key_patterns.iter_mut().find(|p| p.pattern == pattern) {
            Some(p) => {
                p.read |= read;
                p.write |= write;
            }
            None => self.key_patterns.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        Ok(())
    }

    fn set_all_commands(&mut self, allow: bool) {
        self.allowed.iter_mut().for_each(|a| *a = allow);
        self.all_commands = allow;
        self.first_args.clear();
    }

    /// `+cmd`, `-cmd`, `+cmd|sub`, `+@category`, `-@category` (Redis's `ACLSetSelector`).
    fn apply_command_rule(&mut self, allow: bool, name: &[u8]) -> Result<(), RuleError> {
        let raw = String::from_utf8_lossy(name).into_owned();
        let name = raw.to_ascii_lowercase();
        if let Some(category) = name.strip_prefix('@') {
            if !CATEGORY_ORDER.contains(&category) {
                return Err(RuleError::UnknownName);
            }
            set_category(&mut self.allowed, category, allow);
            let cats = slot_categories();
            self.first_args
                .retain(|&slot, _| !cats[slot].contains(&category));
            return Ok(());
        }
        let (slot, spec) = match name.rsplit_once('|') {
            Some((_, "")) if allow => return Err(RuleError::Syntax),
            Some((parent, _)) if allow && parent.contains('|') => {
                return Err(RuleError::SubcommandFirstArg)
            }
            Some((parent, _)) if allow => match command_slot(&name) {
                Some(found) => found,
                // The argument keeps its case, as Redis shows it.
                None => return self.allow_first_arg(parent, &raw[parent.len() + 1..]),
            },
            _ => command_slot(&name).ok_or(RuleError::UnknownName)?,
        };
        change_perm(&mut self.allowed, slot, spec, allow);
        self.first_args.remove(&slot);
        Ok(())
    }

    /// `+cmd|arg` for a command without subcommands: allows it when its first argument is
    /// `arg` (any case).
    fn allow_first_arg(&mut self, command: &str, arg: &str) -> Result<(), RuleError> {
        let spec = table::lookup(command.as_bytes()).ok_or(RuleError::UnknownName)?;
        if !spec.subcommands.is_empty() {
            return Err(RuleError::UnknownName);
        }
        let args = self
            .first_args
            .entry(table::stat_index(spec, None))
            .or_default();
        if !args.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
            args.push(arg.to_string());
        }
        Ok(())
    }

    /// Redis 7.0's `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, the categories
    /// that best describe the allowed commands, then the single commands that still differ
    /// (in this engine's table order, where Redis follows its hash table's order).
    pub fn describe_commands(&self) -> String {
        let additive = !self.all_commands;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = vec![!additive; self.allowed.len()];
        let mut temp = self.allowed.clone();
        let mut applied = [false; 32];
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (j, cat) in CATEGORY_ORDER.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = count_category(&temp, cat);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(j);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(j) = best else { break };
            let cat = CATEGORY_ORDER[j];
            set_category(&mut fake, cat, additive);
            set_category(&mut temp, cat, !additive);
            rules.push(format!("{}@{cat}", if additive { '+' } else { '-' }));
            applied[j] = true;
        }
        for spec in table::COMMANDS {
            let mut visit = |slot: usize, spec: &'static CommandSpec, full: &str| {
                let (user, faked) = (self.allowed[slot], fake[slot]);
                if user != faked {
                    rules.push(format!("{}{full}", if user { '+' } else { '-' }));
                    change_perm(&mut fake, slot, spec, user);
                }
                if !user {
                    for arg in self.first_args.get(&slot).into_iter().flatten() {
                        rules.push(format!("+{full}|{arg}"));
                    }
                }
            };
            visit(table::stat_index(spec, None), spec, spec.name);
            for sub in spec.subcommands {
                let full = format!("{}|{}", spec.name, sub.name);
                visit(table::stat_index(spec, Some(sub)), sub, &full);
            }
        }
        rules.join(" ")
    }

    /// ACL GETUSER `keys`.
    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let all: Vec<String> = self.key_patterns.iter().map(KeyPattern::describe).collect();
        all.join(" ")
    }

    /// ACL GETUSER `channels`.
    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let all: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        all.join(" ")
    }

    /// ACL GETUSER `flags`, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize_payload {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// One ACL LIST line (config file syntax).
    pub fn describe(&self) -> String {
        let mut s = format!("user {}", self.name);
        for f in self.flags() {
            s.push(' ');
            s.push_str(f);
        }
        for p in &self.passwords {
            s.push_str(" #");
            s.push_str(p);
        }
        let keys = self.describe_keys();
        if !keys.is_empty() {
            s.push(' ');
            s.push_str(&keys);
        }
        if self.all_channels {
            s.push_str(" &*");
        } else {
            s.push_str(" resetchannels");
            let ch = self.describe_channels();
            if !ch.is_empty() {
                s.push(' ');
                s.push_str(&ch);
            }
        }
        s.push(' ');
        s.push_str(&self.describe_commands());
        s
    }

    /// Whether the password opens this user (Redis's `ACLCheckUserCredentials`).
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        self.nopass || self.passwords.contains(&sha256_hex(password))
    }

    /// Redis's `ACLCheckAllUserCommandPerm` for the root selector: the command, then each
    /// key with the access its key spec declares.
    pub fn check(
        &self,
        spec: &CommandSpec,
        full: &str,
        slot: usize,
        argv: &[&[u8]],
    ) -> Result<(), Denied> {
        if self.unrestricted_cached {
            return Ok(());
        }
        if !self.allowed.get(slot).copied().unwrap_or(self.all_commands)
            && !self.first_arg_allowed(slot, argv)
        {
            return Err(Denied::Command);
        }
        if !self.all_keys {
            for (pos, read, write) in keys_of(spec, full, argv) {
                let key = argv[pos];
                let ok = self.key_patterns.iter().any(|p| {
                    (p.read || !read) && (p.write || !write) && glob_match(&p.pattern, key, false)
                });
                if !ok {
                    return Err(Denied::Key(pos));
                }
            }
        }
        if !self.all_channels {
            let (positions, patterns) = channels_of(full, argv.len());
            for pos in positions {
                if !self.channel_allowed(argv[pos], patterns) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }

    fn first_arg_allowed(&self, slot: usize, argv: &[&[u8]]) -> bool {
        let (Some(args), Some(first)) = (self.first_args.get(&slot), argv.get(1)) else {
            return false;
        };
        args.iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(first))
    }

    /// Redis's `ACLCheckChannelAgainstList`: a channel matches a permission pattern; a
    /// PSUBSCRIBE pattern must equal one literally.
    fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.channels.iter().any(|p| {
            if is_pattern {
                p == channel
            } else {
                glob_match(p, channel, false)
            }
        })
    }
}

/// The channel arguments of the pub/sub commands (Redis's `getChannelsFromCommand`) and
/// whether they are patterns. Other commands name no channels.
fn channels_of(full: &str, argc: usize) -> (std::ops::Range<usize>, bool) {
    match full {
        "publish" | "spublish" => (1..2.min(argc), false),
        "subscribe" | "ssubscribe" => (1..argc, false),
        "psubscribe" => (1..argc, true),
        _ => (0..0, false),
    }
}

/// Per stats slot: the command's full name (`get`, `config|get`), built once.
pub fn slot_name(slot: usize) -> &'static str {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..table::stat_slots())
            .map(|i| table::stat_name(i).unwrap_or_default())
            .collect()
    });
    names.get(slot).map_or("", String::as_str)
}

/// Per stats slot: the ACL categories of the command (Redis's `acl_categories`).
fn slot_categories() -> &'static [Vec<&'static str>] {
    static CATS: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    CATS.get_or_init(|| {
        let mut cats = vec![Vec::new(); table::stat_slots()];
        for spec in table::COMMANDS {
            cats[table::stat_index(spec, None)] = acl_categories(spec, spec.name);
            for sub in spec.subcommands {
                let full = format!("{}|{}", spec.name, sub.name);
                cats[table::stat_index(spec, Some(sub))] = acl_categories(sub, &full);
            }
        }
        cats
    })
}

/// Redis's `ACLChangeSelectorPerm`: a command's bit, and all its subcommands' bits.
fn change_perm(bits: &mut [bool], slot: usize, spec: &CommandSpec, allow: bool) {
    bits[slot] = allow;
    for i in 0..spec.subcommands.len() {
        bits[slot + 1 + i] = allow;
    }
}

/// Redis's `ACLSetSelectorCommandBitsForCategory`: every command of the category (a
/// container taking its subcommands along), then the subcommands of the category.
fn set_category(bits: &mut [bool], category: &str, allow: bool) {
    let cats = slot_categories();
    for spec in table::COMMANDS {
        let slot = table::stat_index(spec, None);
        if cats[slot].contains(&category) {
            change_perm(bits, slot, spec, allow);
        }
        for i in 0..spec.subcommands.len() {
            if cats[slot + 1 + i].contains(&category) {
                bits[slot + 1 + i] = allow;
            }
        }
    }
}

/// Commands of a category allowed and not allowed in `bits`.
fn count_category(bits: &[bool], category: &str) -> (usize, usize) {
    let (mut on, mut off) = (0, 0);
    for (slot, cats) in slot_categories().iter().enumerate() {
        if cats.contains(&category) {
            if bits[slot] {
                on += 1;
            } else {
                off += 1;
            }
        }
    }
    (on, off)
}

/// The stats slot and spec `+name` names: a command, or `parent|sub` for a subcommand.
fn command_slot(name: &str) -> Option<(usize, &'static CommandSpec)> {
    match name.split_once('|') {
        None => {
            let spec = table::lookup(name.as_bytes())?;
            Some((table::stat_index(spec, None), spec))
        }
        Some((parent, sub)) => {
            let spec = table::lookup(parent.as_bytes())?;
            // First-argument rules on commands without subcommands are not supported.
            let sub = spec.subcommands.iter().find(|s| s.name == sub)?;
            Some((table::stat_index(spec, Some(sub)), sub))
        }
    }
}

/// A `#hash` rule's digest: 64 lower-case hex characters.
fn valid_hash(hex: &[u8]) -> Result<String, RuleError> {
    if hex.len() != 64
        || !hex
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(hex).into_owned())
}

/// What `rename-command` made of a typed command name.
pub enum Renamed {
    /// Not renamed: the name is the command's own.
    Same,
    /// Renamed away (or to ""): no such command.
    Hidden,
    /// A new name for this command.
    To(&'static str),
}

/// The users of one engine.
#[derive(Clone, Debug)]
pub struct Acl {
    /// By name, in byte order (ACL USERS and LIST print them so).
    pub users: BTreeMap<String, User>,
    /// True when some user is restricted: only then do commands need checking.
    any_restricted: bool,
    /// `rename-command`: lower-case typed name -> the command it runs (`None`: hidden).
    renames: std::collections::HashMap<Vec<u8>, Option<&'static str>>,
    /// ACL LOG, newest first.
    pub log: std::collections::VecDeque<LogEntry>,
}

/// One ACL LOG entry: a denied command, key or AUTH, and how often it happened.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    /// `command`, `key` or `auth`.
    pub reason: &'static str,
    /// Where the refused call came from: `toplevel` (a client) or `lua` (a script).
    pub context: &'static str,
    /// The command, the key, or `AUTH`.
    pub object: String,
    pub username: String,
    /// When it last happened (ms).
    pub ctime_ms: i64,
    /// The client's CLIENT LIST line then.
    pub client_info: String,
}

impl Acl {
    /// The default user, with `requirepass` applied, plus the config file's `user` lines.
    pub fn new(requirepass: Option<&[u8]>, user_lines: &[Vec<String>]) -> Self {
        let mut acl = Acl {
            users: BTreeMap::new(),
            any_restricted: false,
            renames: Default::default(),
            log: Default::default(),
        };
        acl.users.insert("default".into(), User::default_user());
        acl.set_default_password(requirepass);
        // Validated when the config (or ACL) file was read; a declared default user starts
        // from `reset`, as in Redis.
        acl.replace_users_keeping_default(user_lines);
        acl
    }

    /// Applies `rename-command` pairs: the old name disappears, the new one (unless empty)
    /// runs the command. Unknown commands are skipped (Redis refuses to start; the config
    /// loader reports them).
    pub fn set_renames(&mut self, pairs: &[(String, String)]) {
        for (old, new) in pairs {
            let Some(spec) = table::lookup(old.as_bytes()) else {
                continue;
            };
            self.renames
                .entry(spec.name.as_bytes().to_vec())
                .or_insert(None);
            if !new.is_empty() {
                self.renames
                    .insert(new.to_ascii_lowercase().into_bytes(), Some(spec.name));
            }
        }
    }

    #[inline]
    pub fn has_renames(&self) -> bool {
        !self.renames.is_empty()
    }

    /// What a typed command name runs after `rename-command`.
    pub fn renamed(&self, typed: &[u8]) -> Renamed {
        match self.renames.get(&typed.to_ascii_lowercase()) {
            None => Renamed::Same,
            Some(None) => Renamed::Hidden,
            Some(Some(name)) => Renamed::To(name),
        }
    }

    /// `requirepass`: the default user's only password, or `nopass` when empty.
    pub fn set_default_password(&mut self, password: Option<&[u8]>) {
        if let Some(u) = self.users.get_mut("default") {
            let _ = u.apply(b"resetpass");
            match password {
                Some(p) => {
                    let _ = u.apply(&[&b">"[..], p].concat());
                }
                None => {
                    let _ = u.apply(b"nopass");
                }
            }
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        for u in self.users.values_mut() {
            u.unrestricted_cached = u.unrestricted();
        }
        self.any_restricted = self.users.values().any(|u| !u.unrestricted_cached);
    }

    /// Creates or changes a user: all rules or none (a failing rule changes nothing).
    pub fn set_user<'a>(
        &mut self,
        name: &str,
        rules: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), (RuleError, Vec<u8>)> {
        let mut user = self
            .users
            .get(name)
            .cloned()
            .unwrap_or_else(|| User::new(name));
        for rule in rules {
            user.apply(rule).map_err(|e| (e, rule.to_vec()))?;
        }
        self.users.insert(name.to_string(), user);
        self.refresh();
        Ok(())
    }

    pub fn delete_user(&mut self, name: &str) -> bool {
        let found = self.users.remove(name).is_some();
        self.refresh();
        found
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Redis's `authRequired`: the default user has passwords (or is off).
    pub fn auth_required(&self) -> bool {
        self.users
            .get("default")
            .is_none_or(|u| !u.nopass || !u.enabled)
    }

    /// The user a password pair opens, if any.
    pub fn authenticate(&self, user: &[u8], password: &[u8]) -> Option<&User> {
        let name = std::str::from_utf8(user).ok()?;
        self.users.get(name).filter(|u| u.accepts(password))
    }

    /// Redis's `addACLLogEntry`: an event like one of the 10 newest (same reason, object and
    /// user, within 60 s) bumps that entry to the front; otherwise a new entry is added and the
    /// log trimmed to `max_len`.
    pub fn add_log(&mut self, mut entry: LogEntry, max_len: usize) {
        let similar = self.log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && (entry.ctime_ms - e.ctime_ms).abs() <= 60_000
        });
        if let Some(i) = similar.and_then(|i| self.log.remove(i)) {
            entry.count = i.count + 1;
        }
        self.log.push_front(entry);
        self.log.truncate(max_len);
    }

    /// Whether a command must be checked at all (some user is restricted).
    #[inline]
    pub fn any_restricted(&self) -> bool {
        self.any_restricted
    }
}

/// Reads an ACL file (`aclfile`): `user <name> <rule> ...` lines, `#` comments. Every line is
/// checked; the errors of all bad lines come back together in Redis's wording.
pub fn read_acl_file(path: &str) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {e}"))?;
    let mut users: Vec<Vec<String>> = Vec::new();
    let mut errors = String::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(words) = crate::protocol::parser::split_args(line.as_bytes()) else {
            errors.push_str(&format!("{path}:{n}: unbalanced quotes in acl line. "));
            continue;
        };
        if words.len() < 2 || !words[0].eq_ignore_ascii_case(b"user") {
            errors.push_str(&format!(
                "{path}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = String::from_utf8_lossy(&words[1]).into_owned();
        if users.iter().any(|u| u[0] == name) {
            errors.push_str(&format!("{path}:{n}: Duplicate user '{name}' found. "));
            continue;
        }
        let mut scratch = User::new(&name);
        if let Some((rule, e)) = words[2..]
            .iter()
            .find_map(|r| scratch.apply(r).err().map(|e| (r, e)))
        {
            errors.push_str(&format!(
                "{path}:{n}: Error in applying operation '{}': {}. ",
                String::from_utf8_lossy(rule),
                e.text()
            ));
            continue;
        }
        users.push(
            words[1..]
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect(),
        );
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    Ok(users)
}

/// The `aclfile` users to start with, added to `config.acl_users`. Like Redis, users may be
/// declared in the config file or in an ACL file, not both.
pub fn load_acl_file_at_start(config: &mut crate::config::Config) -> Result<(), String> {
    let path = config.get("aclfile").unwrap_or("").to_string();
    if path.is_empty() {
        return Ok(());
    }
    if !config.acl_users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let users = read_acl_file(&path)
        .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    config.acl_users = users;
    Ok(())
}

impl Acl {
    /// ACL LOAD: the file's users replace all users; the default user starts over as a fresh
    /// one (`on nopass ~* &* +@all`) unless the file declares it. Nothing changes on error.
    pub fn replace_users(&mut self, lines: &[Vec<String>]) {
        self.users.clear();
        self.users
            .insert("default".to_string(), User::default_user());
        self.replace_users_keeping_default(lines);
    }

    /// Adds the users of `user` lines (already checked); a declared default user is reset
    /// first, as Redis does.
    fn replace_users_keeping_default(&mut self, lines: &[Vec<String>]) {
        for line in lines {
            if let Some((name, rules)) = line.split_first() {
                let mut u = self.users.remove(name).unwrap_or_else(|| User::new(name));
                if name == "default" {
                    let _ = u.apply(b"reset");
                }
                for r in rules {
                    let _ = u.apply(r.as_bytes());
                }
                self.users.insert(name.clone(), u);
            }
        }
        self.refresh();
    }

    /// ACL SAVE's text: the ACL LIST lines.
    pub fn file_text(&self) -> String {
        let mut text = String::new();
        for u in self.users.values() {
            text.push_str(&u.describe());
            text.push('\n');
        }
        text
    }
}

/// The text of a NOPERM reply (Redis 7.0's `processCommand` wording).
pub fn noperm_text(denied: Denied, full: &str) -> CmdError {
    match denied {
        Denied::Command => CmdError::msg(format!(
            "NOPERM this user has no permissions to run the '{full}' command"
        )),
        Denied::Key(_) => CmdError::msg(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        ),
        Denied::Channel(_) => CmdError::msg(
            "NOPERM this user has no permissions to access one of the channels used as arguments",
        ),
    }
}

/// Redis 7.0's protected mode: with `protected-mode yes` and a default user that needs no
/// password, only loopback (and Unix socket) clients may connect. Redis 7.0 no longer looks
/// at `bind` here (its default binds every interface).
pub fn protected_mode_refuses(protected_mode: bool, default_nopass: bool, loopback: bool) -> bool {
    protected_mode && default_nopass && !loopback
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for password digests.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of `data` as 64 lower-case hex characters.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_digests() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Redis's ACL LIST for `>secret`.
        assert_eq!(
            sha256_hex(b"secret"),
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
        let long = vec![b'a'; 200];
        assert_eq!(sha256_hex(&long).len(), 64);
    }

    #[test]
    fn describe_like_redis() {
        let mut acl = Acl::new(None, &[]);
        // One single command: Redis's description is then independent of its hash order.
        let rules: Vec<&[u8]> = vec![b"on", b">secret", b"~ris:{T1}*", b"~rts:{T1}:*", b"+hset"];
        acl.set_user("T1", rules).unwrap();
        assert_eq!(
            acl.user("T1").unwrap().describe(),
            "user T1 on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~ris:{T1}* ~rts:{T1}:* resetchannels -@all +hset"
        );
        assert_eq!(
            acl.user("default").unwrap().describe(),
            "user default on nopass ~* &* +@all"
        );
        assert!(acl.any_restricted());
        let bad: Vec<&[u8]> = vec![b"+nosuch"];
        assert_eq!(
            acl.set_user("x", bad).unwrap_err().0,
            RuleError::UnknownName
        );
        assert!(acl.user("x").is_none());
    }

    #[test]
    fn channel_permissions() {
        let mut u = User::new("p");
        for r in ["&news.*", "&exact"] {
            u.apply(r.as_bytes()).unwrap();
        }
        assert!(u.channel_allowed(b"news.fx", false));
        assert!(!u.channel_allowed(b"sports", false));
        // A PSUBSCRIBE pattern must be granted literally.
        assert!(u.channel_allowed(b"news.*", true));
        assert!(!u.channel_allowed(b"news.f*", true));
        assert_eq!(channels_of("publish", 3), (1..2, false));
        assert_eq!(channels_of("subscribe", 4), (1..4, false));
        assert_eq!(channels_of("get", 2), (0..0, false));
        assert_eq!(u.describe_channels(), "&news.* &exact");
        assert_eq!(u.apply(b"&*"), Ok(()));
        assert_eq!(u.apply(b"&x"), Err(RuleError::ChannelAfterAll));
    }

    #[test]
    fn protected_mode_decision() {
        assert!(protected_mode_refuses(true, true, false));
        assert!(!protected_mode_refuses(true, true, true));
        assert!(!protected_mode_refuses(true, false, false));
        assert!(!protected_mode_refuses(false, true, false));
    }
}
