//! Redis 7's multi-part AOF layout. `<dir>/<appenddirname>/` holds one base file (the keyspace
//! at the last rewrite: `<appendfilename>.<seq>.base.rdb`, or `.base.aof` when written as
//! commands), the incremental files logged since (`<appendfilename>.<seq>.incr.aof`), and the
//! manifest `<appendfilename>.manifest` that names them in load order:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.3.incr.aof seq 3 type i
//! ```
//!
//! The manifest is replaced atomically (temp file, fsync, rename, fsync of the directory), so
//! a crash leaves the old set or the new one, never a mix. redis-server 7 loads such a
//! directory and the engine loads redis-server 7's.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Longest manifest line Redis accepts.
const MAX_LINE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Base,
    /// A file a rewrite replaced, to be deleted.
    History,
    Incr,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::History => 'h',
            Kind::Incr => 'i',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
    /// Files of earlier rewrites still listed (Redis marks them before deleting them).
    pub history: Vec<AofFile>,
}

impl Manifest {
    /// The files to load, in order.
    pub fn load_order(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(self.incrs.iter())
    }

    /// The next base file of a rewrite (`commands`: written as RESP commands, not RDB).
    pub fn next_base(&self, prefix: &str, commands: bool) -> AofFile {
        let seq = self.base.as_ref().map_or(0, |b| b.seq) + 1;
        let ext = if commands { "aof" } else { "rdb" };
        AofFile {
            name: format!("{prefix}.{seq}.base.{ext}"),
            seq,
            kind: Kind::Base,
        }
    }

    /// The next incremental file.
    pub fn next_incr(&self, prefix: &str) -> AofFile {
        let seq = self.incrs.iter().map(|f| f.seq).max().unwrap_or(0) + 1;
        AofFile {
            name: format!("{prefix}.{seq}.incr.aof"),
            seq,
            kind: Kind::Incr,
        }
    }

    /// The manifest's text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let files = self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incrs.iter());
        for f in files {
            text.push_str(&format!(
                "file {} seq {} type {}\n",
                quote(&f.name),
                f.seq,
                f.kind.letter()
            ));
        }
        text
    }

    /// Parses a manifest; the error says what is wrong on which line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.len() > MAX_LINE {
                return Err(format!("line {} is longer than {MAX_LINE} bytes", i + 1));
            }
            let file = parse_line(line).map_err(|why| format!("line {}: {why}", i + 1))?;
            match file.kind {
                Kind::Base if m.base.is_some() => {
                    return Err(format!("line {}: a second base file", i + 1))
                }
                Kind::Base => m.base = Some(file),
                Kind::History => m.history.push(file),
                Kind::Incr => {
                    if m.incrs.last().is_some_and(|last| last.seq >= file.seq) {
                        return Err(format!("line {}: incr files out of order", i + 1));
                    }
                    m.incrs.push(file)
                }
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            return Err("no base or incr file".into());
        }
        Ok(m)
    }
}

/// `file <name> seq <n> type <b|h|i>` (pairs in any order, as Redis reads them).
fn parse_line(line: &str) -> Result<AofFile, String> {
    let words = split_args(line)?;
    if words.len() % 2 != 0 {
        return Err("an odd number of words".into());
    }
    let (mut name, mut seq, mut kind) = (None, None, None);
    for pair in words.chunks_exact(2) {
        match pair[0].as_str() {
            "file" => name = Some(pair[1].clone()),
            "seq" => seq = pair[1].parse::<u64>().ok(),
            "type" => {
                kind = match pair[1].as_str() {
                    "b" => Some(Kind::Base),
                    "h" => Some(Kind::History),
                    "i" => Some(Kind::Incr),
                    other => return Err(format!("unknown file type '{other}'")),
                }
            }
            // Later Redis versions may add keys: ignored, as Redis ignores unknown ones.
            _ => {}
        }
    }
    match (name, seq, kind) {
        (Some(name), Some(seq), Some(kind)) if is_plain_name(&name) => {
            Ok(AofFile { name, seq, kind })
        }
        (Some(name), Some(_), Some(_)) => Err(format!("'{name}' is not a file name")),
        _ => Err("needs file, seq and type".into()),
    }
}

/// Words separated by spaces; a word may be "quoted" with backslash escapes (as Redis's
/// `sdssplitargs`, for names that need quoting).
fn split_args(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unbalanced quotes".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('r') => word.push('\r'),
                        Some('t') => word.push('\t'),
                        Some(c) => word.push(c),
                        None => return Err("unbalanced quotes".into()),
                    },
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
}

/// A file name the manifest may point at: no directories, so a manifest cannot reach files
/// outside the AOF directory.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Names with spaces or quotes are written quoted, as Redis's `sdscatrepr` does.
fn quote(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `<dir>/<appenddirname>`.
pub fn dir_path(config: &crate::config::Config) -> PathBuf {
    let dir = config.get("dir").filter(|d| !d.is_empty()).unwrap_or(".");
    let name = config.get("appenddirname").unwrap_or("appendonlydir");
    Path::new(dir).join(name)
}

/// `<appendfilename>`: the prefix of every file name in the directory.
pub fn prefix(config: &crate::config::Config) -> String {
    config
        .get("appendfilename")
        .unwrap_or("appendonly.aof")
        .to_string()
}

pub fn manifest_path(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}.manifest"))
}

/// Reads the manifest of `dir`; `Ok(None)` when there is none.
pub fn read(dir: &Path, prefix: &str) -> Result<Option<Manifest>, String> {
    let path = manifest_path(dir, prefix);
    match std::fs::read_to_string(&path) {
        Ok(text) => Manifest::parse(&text)
            .map(Some)
            .map_err(|why| format!("Invalid AOF manifest file format {}: {why}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "Can't read the AOF manifest {}: {e}",
            path.display()
        )),
    }
}

/// Replaces the manifest of `dir` with `m`, atomically.
pub fn write(dir: &Path, prefix: &str, m: &Manifest) -> std::io::Result<()> {
    let path = manifest_path(dir, prefix);
    let temp = dir.join(format!("temp-{prefix}.manifest"));
    let mut f = File::create(&temp)?;
    f.write_all(m.render().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&temp, &path)?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_redis_writes_and_writes_it_back() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.render(), text);
        assert_eq!(
            m.next_incr("appendonly.aof").name,
            "appendonly.aof.4.incr.aof"
        );
        assert_eq!(
            m.next_base("appendonly.aof", false).name,
            "appendonly.aof.3.base.rdb"
        );
    }

    #[test]
    fn quoted_names_round_trip() {
        let m = Manifest {
            base: Some(AofFile {
                name: "my \"aof\".1.base.rdb".into(),
                seq: 1,
                kind: Kind::Base,
            }),
            ..Default::default()
        };
        assert_eq!(Manifest::parse(&m.render()).unwrap(), m);
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let bad = [
            ("file a seq 1 type x\n", "unknown file type"),
            ("file a seq 1\n", "needs file, seq and type"),
            ("file ../../etc/passwd seq 1 type b\n", "not a file name"),
            (
                "file a seq 1 type b\nfile b seq 2 type b\n",
                "a second base",
            ),
            ("file \"a seq 1 type b\n", "unbalanced quotes"),
            ("# only a comment\n", "no base or incr"),
            (
                "file a.2.incr.aof seq 2 type i\nfile a.1.incr.aof seq 1 type i\n",
                "out of order",
            ),
        ];
        for (text, why) in bad {
            let err = Manifest::parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
