//! Request parsing: turns the bytes a client sent into command argument vectors.
//!
//! Mirrors Redis's `processMultibulkBuffer` / `processInlineBuffer`: RESP multibulk requests
//! (`*<n>\r\n$<len>\r\n<bytes>\r\n...`) and inline commands (`SET k v\r\n`), with the same limits
//! and the same `Protocol error: ...` texts, so a misbehaving client sees what Redis would say.
//! Arguments of multibulk requests are returned as ranges into the caller's buffer: parsing a
//! pipelined batch allocates nothing per argument.

/// Longest inline command or bulk/multibulk length line accepted before a newline (Redis's
/// `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Bulk lengths this large get a buffer sized up front instead of growing while the bulk trickles
/// in (Redis's `PROTO_MBULK_BIG_ARG`).
pub const BIG_ARG: usize = 32 * 1024;

/// The largest multibulk count Redis accepts (`INT_MAX`).
const MAX_MULTIBULK: i64 = i32::MAX as i64;

/// Limits that come from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// Clients that have not authenticated yet get much smaller limits, as in Redis.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// One argument of a parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A range of the input buffer.
    Range(usize, usize),
    /// An inline argument after unquoting, which no longer matches the input bytes.
    Owned(Vec<u8>),
}

/// The outcome of one parse attempt at the start of the unparsed input.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command: its arguments and how many bytes it used. An empty argument list is a
    /// blank inline line or `*0`, which Redis skips silently.
    Command { args_end: usize, consumed: usize },
    /// More bytes are needed; `at_least` is the total buffer length worth waiting for (0 when
    /// unknown).
    Incomplete { at_least: usize },
    /// The client broke the protocol: reply with this error and close the connection.
    Error(ProtocolError),
}

/// Why a request broke the protocol; the reply is `-ERR ` followed by its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    Message(&'static str),
    /// A multibulk argument did not start with `$`: Redis formats the byte it got with `%c`.
    ExpectedDollar(u8),
}

impl ProtocolError {
    /// The message bytes exactly as Redis builds them: `%c` puts the raw byte in, and a NUL
    /// byte ends the C string there.
    pub fn as_bytes(&self) -> Vec<u8> {
        match *self {
            ProtocolError::Message(m) => m.as_bytes().to_vec(),
            ProtocolError::ExpectedDollar(0) => b"Protocol error: expected '$', got '".to_vec(),
            ProtocolError::ExpectedDollar(b) => {
                let mut v = b"Protocol error: expected '$', got '".to_vec();
                v.push(b);
                v.push(b'\'');
                v
            }
        }
    }

    /// The message as text (for logs and tests).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.as_bytes()).into_owned()
    }
}

/// Parses one command from `buf`, pushing its arguments onto `args`.
/// On `Incomplete` or `Error` the pushed arguments must be discarded by the caller.
pub fn parse_command(buf: &[u8], limits: Limits, args: &mut Vec<Arg>) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete { at_least: 0 },
        Some(b'*') => parse_multibulk(buf, limits, args),
        Some(_) => parse_inline(buf, args),
    }
}

fn parse_multibulk(buf: &[u8], limits: Limits, args: &mut Vec<Arg>) -> Parsed {
    let start_len = args.len();
    let count_line = length_line(
        buf,
        0,
        i64::MIN..=MAX_MULTIBULK,
        "Protocol error: too big mbulk count string",
        "Protocol error: invalid multibulk length",
    );
    let (count, line_end) = match count_line {
        Ok(found) => found,
        Err(parsed) => return parsed,
    };
    if !limits.authenticated && count > 10 {
        return Parsed::Error(ProtocolError::Message(
            "Protocol error: unauthenticated multibulk length",
        ));
    }
    let mut pos = line_end + 2;
    if count <= 0 {
        return Parsed::Command {
            args_end: start_len,
            consumed: pos,
        };
    }
    // Don't trust the count for preallocation: a client may announce a billion arguments.
    args.reserve((count as usize).min(1024));
    for _ in 0..count {
        if pos >= buf.len() {
            return Parsed::Incomplete { at_least: 0 };
        }
        if buf[pos] != b'$' {
            return Parsed::Error(ProtocolError::ExpectedDollar(buf[pos]));
        }
        let len_line = length_line(
            buf,
            pos,
            0..=limits.max_bulk_len,
            "Protocol error: too big bulk count string",
            "Protocol error: invalid bulk length",
        );
        let (len, len_end) = match len_line {
            Ok((n, end)) => (n as usize, end),
            Err(parsed) => return parsed,
        };
        if !limits.authenticated && len > 16384 {
            return Parsed::Error(ProtocolError::Message(
                "Protocol error: unauthenticated bulk length",
            ));
        }
        let data_start = len_end + 2;
        let data_end = data_start + len;
        if data_end + 2 > buf.len() {
            return Parsed::Incomplete {
                at_least: data_end + 2,
            };
        }
        // Redis does not check the trailing CRLF of a bulk; it skips two bytes. Do the same so
        // the two servers agree on what a sloppy client's request means.
        args.push(Arg::Range(data_start, data_end));
        pos = data_end + 2;
    }
    Parsed::Command {
        args_end: args.len(),
        consumed: pos,
    }
}

/// Reads a `*<count>` or `$<len>` line starting at `buf[at]`: the number and where its CRLF
/// starts, or what to answer instead: `too_big` when no CRLF comes within
/// [`INLINE_MAX_SIZE`] bytes, `invalid` when the number is not one in `valid`, or a request
/// for more input.
#[inline]
fn length_line(
    buf: &[u8],
    at: usize,
    valid: std::ops::RangeInclusive<i64>,
    too_big: &'static str,
    invalid: &'static str,
) -> Result<(i64, usize), Parsed> {
    let Some(line_end) = find_crlf(buf, at + 1) else {
        if buf.len() - at > INLINE_MAX_SIZE {
            return Err(Parsed::Error(ProtocolError::Message(too_big)));
        }
        return Err(Parsed::Incomplete { at_least: 0 });
    };
    match parse_i64(&buf[at + 1..line_end]) {
        Some(n) if valid.contains(&n) => Ok((n, line_end)),
        _ => Err(Parsed::Error(ProtocolError::Message(invalid))),
    }
}

fn parse_inline(buf: &[u8], args: &mut Vec<Arg>) -> Parsed {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Parsed::Error(ProtocolError::Message(
                "Protocol error: too big inline request",
            ));
        }
        return Parsed::Incomplete { at_least: 0 };
    };
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let start_len = args.len();
    match split_args(line) {
        Some(parts) => {
            args.extend(parts.into_iter().map(Arg::Owned));
            Parsed::Command {
                args_end: args.len(),
                consumed: nl + 1,
            }
        }
        None => {
            args.truncate(start_len);
            Parsed::Error(ProtocolError::Message(
                "Protocol error: unbalanced quotes in request",
            ))
        }
    }
}

/// Splits a line into arguments the way Redis's `sdssplitargs` does: whitespace separated, with
/// "double quotes" (supporting \n \r \t \b \a \\ \" and \xHH escapes) and 'single quotes'
/// (supporting \'). Returns `None` for unbalanced quotes or a closing quote not followed by a
/// space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut current = Vec::new();
        // The quote the argument is inside, if any.
        let mut quote: Option<u8> = None;
        loop {
            if let Some(q) = quote {
                if i >= n {
                    return None;
                }
                let c = line[i];
                let double = q == b'"';
                if c == q {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if double
                    && c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    current.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if double && c == b'\\' && i + 1 < n {
                    i += 1;
                    current.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if !double && c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else {
                    current.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    q @ (b'"' | b'\'') => quote = Some(q),
                    c => current.push(c),
                }
            }
            i += 1;
        }
        out.push(current);
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Position of the `\r` of the first `\r\n` at or after `from`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        let rel = memchr(b'\r', &buf[i..])?;
        let at = i + rel;
        if at + 1 < buf.len() {
            if buf[at + 1] == b'\n' {
                return Some(at);
            }
        } else {
            return None;
        }
        i = at + 1;
    }
    None
}

#[inline]
fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Strict decimal integer parsing as Redis's `string2ll`: optional '-', no '+', no leading
/// zeros, no spaces, must fit i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(buf: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, String> {
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let mut args = Vec::new();
            match parse_command(&buf[pos..], Limits::default(), &mut args) {
                Parsed::Command { consumed, .. } => {
                    let cmd = args
                        .into_iter()
                        .map(|a| match a {
                            Arg::Range(s, e) => buf[pos + s..pos + e].to_vec(),
                            Arg::Owned(v) => v,
                        })
                        .collect::<Vec<_>>();
                    if !cmd.is_empty() {
                        out.push(cmd);
                    }
                    pos += consumed;
                }
                Parsed::Incomplete { .. } => return Ok(out),
                Parsed::Error(e) => return Err(e.text()),
            }
        }
    }

    fn encode(cmd: &[Vec<u8>]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", cmd.len()).into_bytes();
        for a in cmd {
            v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            v.extend_from_slice(a);
            v.extend_from_slice(b"\r\n");
        }
        v
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n  set a \"b c\"\r\n").unwrap();
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]
        );
    }

    #[test]
    fn protocol_errors_use_redis_texts() {
        let too_long = vec![b'a'; INLINE_MAX_SIZE + 1];
        let cases: [(&[u8], &str); 5] = [
            (b"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'"),
            (b"*1\r\n$600000000\r\n", "invalid bulk length"),
            (b"*x\r\n", "invalid multibulk length"),
            (b"set \"a\r\n", "unbalanced quotes in request"),
            (&too_long, "too big inline request"),
        ];
        for (input, error) in cases {
            assert_eq!(parse_all(input), Err(format!("Protocol error: {error}")));
        }
    }

    #[test]
    fn huge_bulk_reports_how_much_to_wait_for() {
        let mut args = Vec::new();
        let r = parse_command(b"*1\r\n$100000\r\nabc", Limits::default(), &mut args);
        assert_eq!(
            r,
            Parsed::Incomplete {
                at_least: 4 + 9 + 100_002
            }
        );
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b" 1"), None);
    }

    proptest! {
        #[test]
        fn any_split_of_valid_input_parses_the_same(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), 1..8),
            cut in any::<prop::sample::Index>()
        ) {
            let mut wire = Vec::new();
            for c in &cmds { wire.extend(encode(c)); }
            let cut = cut.index(wire.len() + 1);
            // Everything complete in the prefix parses; the rest parses once appended.
            let first = parse_all(&wire[..cut]).unwrap();
            prop_assert!(first.len() <= cmds.len());
            prop_assert_eq!(&first[..], &cmds[..first.len()]);
            let all = parse_all(&wire).unwrap();
            prop_assert_eq!(all, cmds);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_all(&bytes);
        }

        #[test]
        fn random_bytes_after_star_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut wire = b"*".to_vec();
            wire.extend(bytes);
            let _ = parse_all(&wire);
        }
    }
}
