//! RESP helpers of the append only file: writing a command, reading one back (strictly: the
//! file only ever holds multibulk commands), and reading a reply the engine wrote (to log the
//! effect of SPOP, XADD *, XAUTOCLAIM, served blocking pops ...).

/// Appends `args` as a RESP multibulk command (on every logged write: no formatting machinery).
pub fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    let mut digits = itoa::Buffer::new();
    let total: usize = args.iter().map(|a| a.len() + 16).sum();
    buf.reserve(total + 16);
    buf.push(b'*');
    buf.extend_from_slice(digits.format(args.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in args {
        buf.push(b'$');
        buf.extend_from_slice(digits.format(a.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Why a command could not be read from the file.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The file ends inside this command.
    Truncated,
    /// Not a command at all: the reason.
    Bad(String),
}

/// Reads `\r\n`-terminated decimal after a type byte at `at`; returns (value, next offset).
fn read_number(data: &[u8], at: usize, kind: u8) -> Result<(i64, usize), ReadError> {
    if at >= data.len() {
        return Err(ReadError::Truncated);
    }
    if data[at] != kind {
        return Err(ReadError::Bad(format!(
            "expected '{}', found byte 0x{:02x}",
            kind as char, data[at]
        )));
    }
    let rest = &data[at + 1..];
    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
        // A number is at most 20 digits: anything longer without CRLF is not a number.
        if rest.len() > 24 {
            return Err(ReadError::Bad("line without CRLF".into()));
        }
        return Err(ReadError::Truncated);
    };
    let n = crate::util::parse_i64(&rest[..end])
        .ok_or_else(|| ReadError::Bad("invalid number".into()))?;
    Ok((n, at + 1 + end + 2))
}

/// Reads one command starting at `at`: its arguments and the offset after it.
pub fn read_command(data: &[u8], at: usize) -> Result<(Vec<Vec<u8>>, usize), ReadError> {
    let (argc, mut pos) = read_number(data, at, b'*')?;
    if !(1..=1024 * 1024).contains(&argc) {
        return Err(ReadError::Bad(format!("invalid argument count {argc}")));
    }
    let mut args = Vec::with_capacity(argc as usize);
    for _ in 0..argc {
        let (len, start) = read_number(data, pos, b'$')?;
        if !(0..=512 * 1024 * 1024).contains(&len) {
            return Err(ReadError::Bad(format!("invalid bulk length {len}")));
        }
        let end = start + len as usize;
        if end + 2 > data.len() {
            return Err(ReadError::Truncated);
        }
        if &data[end..end + 2] != b"\r\n" {
            return Err(ReadError::Bad("bulk not terminated by CRLF".into()));
        }
        args.push(data[start..end].to_vec());
        pos = end + 2;
    }
    Ok((args, pos))
}

/// A reply as the engine wrote it (RESP2 or RESP3), enough to read ids and elements back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Bulk(Vec<u8>),
    Int(i64),
    Null,
    Array(Vec<Reply>),
    Other,
}

impl Reply {
    pub fn bulk(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(v) => v,
            _ => &[],
        }
    }
}

fn line(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let end = data[at..].windows(2).position(|w| w == b"\r\n")?;
    Some((&data[at..at + end], at + end + 2))
}

/// Parses one reply at `at`; maps (`%`) become flat arrays of key, value, key, value.
///
/// The same RESP2/RESP3 grammar as the clients' reader (`tradestate_mt5_bridge::client::resp::
/// parse`), kept here because the engine depends on no other workspace crate and reads only what
/// it wrote itself (its own replies, so no push, attribute or error handling is needed).
pub fn parse_reply(data: &[u8], at: usize) -> Option<(Reply, usize)> {
    let kind = *data.get(at)?;
    let (head, next) = line(data, at + 1)?;
    let number = || crate::util::parse_i64(head);
    match kind {
        b'$' | b'=' => {
            let n = number()?;
            if n < 0 {
                return Some((Reply::Null, next));
            }
            let end = next + n as usize;
            let body = data.get(next..end)?.to_vec();
            Some((Reply::Bulk(body), end + 2))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = number()?;
            if n < 0 {
                return Some((Reply::Null, next));
            }
            let count = if kind == b'%' { n * 2 } else { n } as usize;
            let mut items = Vec::with_capacity(count.min(1024));
            let mut pos = next;
            for _ in 0..count {
                let (item, after) = parse_reply(data, pos)?;
                items.push(item);
                pos = after;
            }
            Some((Reply::Array(items), pos))
        }
        b':' => Some((Reply::Int(number()?), next)),
        b'_' => Some((Reply::Null, next)),
        _ => Some((Reply::Other, next)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_truncation_is_told_apart_from_garbage() {
        let mut buf = Vec::new();
        encode(&mut buf, &[b"SET", b"k", b"v\r\n"]);
        let (args, end) = read_command(&buf, 0).unwrap();
        assert_eq!(
            args,
            vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\n".to_vec()]
        );
        assert_eq!(end, buf.len());
        for cut in 1..buf.len() {
            assert_eq!(
                read_command(&buf[..cut], 0),
                Err(ReadError::Truncated),
                "cut {cut}"
            );
        }
        assert!(matches!(
            read_command(b"+OK\r\n", 0),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read_command(b"*1\r\n$3\r\nSETXX", 0),
            Err(ReadError::Bad(_))
        ));
    }

    #[test]
    fn replies_parse_in_both_protocols() {
        let (r, _) = parse_reply(b"*2\r\n$1\r\na\r\n:5\r\n", 0).unwrap();
        assert_eq!(
            r,
            Reply::Array(vec![Reply::Bulk(b"a".to_vec()), Reply::Int(5)])
        );
        let (r, _) = parse_reply(b"%1\r\n$1\r\nk\r\n*-1\r\n", 0).unwrap();
        assert_eq!(
            r,
            Reply::Array(vec![Reply::Bulk(b"k".to_vec()), Reply::Null])
        );
        assert_eq!(parse_reply(b"_\r\n", 0).unwrap().0, Reply::Null);
    }
}
