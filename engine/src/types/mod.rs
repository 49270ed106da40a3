//! The values a key can hold, one module per data type (as Redis's `t_*.c`).
//!
//! Each type owns its encodings (compact while small, hashed/sorted when large) and knows nothing
//! of commands or RESP; `commands/` drives them.

pub mod hash;
pub mod list;
pub mod listpack;
pub mod set;
pub mod stream;
pub mod string;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use string::StrValue;
pub use zset::Zset;

/// The value stored under a key.
#[derive(Clone)]
pub enum Value {
    Str(StrValue),
    // Boxed so every key's entry stays one cache line: the large variants live elsewhere.
    Hash(Hash),
    Set(Box<Set>),
    Stream(Box<Stream>),
    ZSet(Box<Zset>),
    List(Box<List>),
}

/// Views of a value as one type, for `Ctx::read_as` and friends (`None` = another type).
impl Value {
    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_hash_mut(&mut self) -> Option<&mut Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_set_mut(&mut self) -> Option<&mut Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_zset_mut(&mut self) -> Option<&mut Zset> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_list_mut(&mut self) -> Option<&mut List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_stream_mut(&mut self) -> Option<&mut Stream> {
        match self {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::Stream(_) => "stream",
            Value::ZSet(_) => "zset",
            Value::List(_) => "list",
        }
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::Stream(_) => "stream",
            Value::ZSet(z) => z.encoding_name(),
            Value::List(l) => l.encoding_name(),
        }
    }

    /// Approximate heap bytes held, for `MEMORY USAGE` and lazy-free decisions.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.approx_bytes(),
            Value::Hash(h) => h.approx_bytes(),
            Value::Set(s) => s.approx_bytes(),
            Value::Stream(s) => s.approx_bytes(),
            Value::ZSet(z) => z.approx_bytes(),
            Value::List(l) => l.approx_bytes(),
        }
    }
}
