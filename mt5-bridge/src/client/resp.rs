//! Reading the gateway's RESP replies (RESP2 and the RESP3 types `HELLO 3` brings), and what a
//! reply to one of the terminal's writes means.
//!
//! The one RESP reply reader of the workspace's clients: [`parse`] is sans-IO (one value from a
//! buffer), [`RespReader`] reads values from a socket with it, [`hello`] is the RESP3 handshake a
//! terminal starts with, and [`throttle_push`] / [`stale_push`] / [`renumber_push`] classify the
//! gateway's pushes. The reference client, the load generator (`loadgen/src/link.rs`) and the
//! bench driver (`ops/src/bin/gateway-bench/resp.rs`) all read with them. The engine's own AOF
//! reader (`engine/src/aof/resp.rs`) is the product's protocol code and stays there (the engine
//! does not depend on this crate); its tests keep a byte-exact reader of their own
//! (`engine/tests/common/mod.rs`) because they compare reply bytes with redis-server's.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One reply (or push) from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum RespValue {
    Simple(String),
    Error(String),
    Int(i64),
    /// `$-1` (RESP2 nil) is `Bulk(None)`.
    Bulk(Option<Vec<u8>>),
    /// `*-1` (RESP2 nil array) is `Array(None)`.
    Array(Option<Vec<RespValue>>),
    Map(Vec<(RespValue, RespValue)>),
    /// `>`: out-of-band data, e.g. the gateway's `throttle` hint.
    Push(Vec<RespValue>),
    /// `_`.
    Null,
    /// Doubles, booleans, big numbers, verbatim strings: kept as their text.
    Other(String),
}

/// Why a reply could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RESP protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Parses one value from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// value and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(RespValue, usize)>, ProtocolError> {
    let Some(line_end) = find_crlf(buf) else {
        return Ok(None);
    };
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[1..line_end])
        .map_err(|_| ProtocolError("reply line is not UTF-8".into()))?;
    let after = line_end + 2;
    let number = || {
        line.parse::<i64>()
            .map_err(|_| ProtocolError(format!("bad length or integer {line:?}")))
    };
    match kind {
        b'+' => Ok(Some((RespValue::Simple(line.to_owned()), after))),
        b'-' => Ok(Some((RespValue::Error(line.to_owned()), after))),
        b':' => Ok(Some((RespValue::Int(number()?), after))),
        b'_' => Ok(Some((RespValue::Null, after))),
        b',' | b'#' | b'(' => Ok(Some((RespValue::Other(line.to_owned()), after))),
        b'$' | b'=' | b'!' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((RespValue::Bulk(None), after)));
            }
            let len = len as usize;
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            let body = buf[after..after + len].to_vec();
            let value = match kind {
                b'$' => RespValue::Bulk(Some(body)),
                b'!' => RespValue::Error(String::from_utf8_lossy(&body).into_owned()),
                _ => RespValue::Other(String::from_utf8_lossy(&body).into_owned()),
            };
            Ok(Some((value, after + len + 2)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = number()?;
            if count < 0 {
                return Ok(Some((RespValue::Array(None), after)));
            }
            let items = if matches!(kind, b'%' | b'|') {
                count as usize * 2
            } else {
                count as usize
            };
            let mut values = Vec::with_capacity(items.min(1024));
            let mut at = after;
            for _ in 0..items {
                match parse(&buf[at..])? {
                    Some((value, used)) => {
                        values.push(value);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            let value = match kind {
                b'>' => RespValue::Push(values),
                b'%' => {
                    let mut pairs = Vec::with_capacity(values.len() / 2);
                    let mut values = values.into_iter();
                    while let (Some(k), Some(v)) = (values.next(), values.next()) {
                        pairs.push((k, v));
                    }
                    RespValue::Map(pairs)
                }
                // Attributes (`|`) describe the next reply; nothing here uses them.
                b'|' => return parse(&buf[at..]).map(|o| o.map(|(v, used)| (v, at + used))),
                _ => RespValue::Array(Some(values)),
            };
            Ok(Some((value, at)))
        }
        other => Err(ProtocolError(format!(
            "unexpected reply type byte {:?}",
            other as char
        ))),
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Reads replies one value at a time from a byte stream (a socket or its read half), buffering
/// what arrives beyond the value.
pub struct RespReader<R> {
    inner: R,
    buffer: Vec<u8>,
    /// Where the unread bytes of `buffer` start.
    start: usize,
}

impl<R: AsyncRead + Unpin> RespReader<R> {
    /// A reader with room for `capacity` bytes per read.
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        RespReader {
            inner,
            buffer: Vec::with_capacity(capacity.max(64)),
            start: 0,
        }
    }

    pub fn new(inner: R) -> Self {
        Self::with_capacity(16 * 1024, inner)
    }

    /// The next value: from the buffer when it holds one, else after reading more. A closed
    /// connection is `UnexpectedEof`, a reply that is not RESP `InvalidData`.
    pub async fn read_value(&mut self) -> std::io::Result<RespValue> {
        loop {
            if let Some(value) = self.buffered_value()? {
                return Ok(value);
            }
            if self.start > 0 {
                self.buffer.drain(..self.start);
                self.start = 0;
            }
            if self.buffer.capacity() - self.buffer.len() < 4096 {
                self.buffer.reserve(self.buffer.capacity().max(16 * 1024));
            }
            let read = self.inner.read_buf(&mut self.buffer).await?;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the gateway closed the connection",
                ));
            }
        }
    }

    /// The next value if the buffer already holds all of it; reads nothing.
    pub fn buffered_value(&mut self) -> std::io::Result<Option<RespValue>> {
        match parse(&self.buffer[self.start..]) {
            Ok(Some((value, used))) => {
                self.start += used;
                if self.start == self.buffer.len() {
                    self.buffer.clear();
                    self.start = 0;
                }
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }

    /// Drops the value at the front of the buffer if `keep` says so (a hint already in after
    /// the last reply); `false` when there is none or `keep` declined it.
    pub fn take_buffered_if(&mut self, keep: impl FnOnce(&RespValue) -> bool) -> bool {
        match parse(&self.buffer[self.start..]) {
            Ok(Some((value, used))) if keep(&value) => {
                self.start += used;
                true
            }
            _ => false,
        }
    }
}

/// How a [`hello`] handshake failed.
#[derive(Debug)]
pub enum HelloError {
    /// Writing the command or reading its reply failed.
    Io(std::io::Error),
    /// The gateway answered with an error (a bad token) or something that is not a HELLO reply.
    Refused(RespValue),
}

/// The RESP3 handshake a terminal starts with (`HELLO 3 AUTH <id> <token>`, as the MQL5 library
/// and the reference client send it): RESP3, so the gateway's `stale`/`throttle`/`renumber`
/// pushes arrive. Returns the largest `renumber` push read before the reply (the gateway sends
/// none there today).
pub async fn hello<R, W>(
    reader: &mut RespReader<R>,
    writer: &mut W,
    instance_id: &str,
    token: &str,
) -> Result<Option<u64>, HelloError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let hello = crate::wire::resp_encode(&["HELLO", "3", "AUTH", instance_id, token]);
    writer.write_all(&hello).await.map_err(HelloError::Io)?;
    let mut renumber_above = None;
    loop {
        match reader.read_value().await.map_err(HelloError::Io)? {
            value @ RespValue::Push(_) => {
                renumber_above = renumber_above.max(renumber_push(&value));
            }
            RespValue::Map(_) | RespValue::Array(_) | RespValue::Simple(_) => {
                return Ok(renumber_above)
            }
            other => return Err(HelloError::Refused(other)),
        }
    }
}

/// The gateway's throttle push `>2 "throttle" :<ms>`, if `value` is one.
pub fn throttle_push(value: &RespValue) -> Option<u64> {
    match value {
        RespValue::Push(items) => match items.as_slice() {
            [RespValue::Bulk(Some(name)), RespValue::Int(ms)] if name == b"throttle" => {
                Some((*ms).max(0) as u64)
            }
            _ => None,
        },
        _ => None,
    }
}

/// The gateway's stale push `>3 "stale" "<key>" :<stored_seq>`, sent right before the `:0`
/// reply of a stale HSET: the `stored_seq`, if `value` is one.
pub fn stale_push(value: &RespValue) -> Option<u64> {
    match value {
        RespValue::Push(items) => match items.as_slice() {
            [RespValue::Bulk(Some(name)), _, RespValue::Int(seq)] if name == b"stale" => {
                u64::try_from(*seq).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// The gateway's push `>2 "renumber" :<seq>`: number above `seq` from now on.
pub fn renumber_push(value: &RespValue) -> Option<u64> {
    match value {
        RespValue::Push(items) => match items.as_slice() {
            [RespValue::Bulk(Some(name)), RespValue::Int(seq)] if name == b"renumber" => {
                u64::try_from(*seq).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// What a reply to one HSET/XADD means for the queued update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteReply {
    /// `:n` with n > 0, an entry id, `+OK`.
    Stored,
    /// `:0`: not newer than the stored seq (a retry, or reordered).
    Stale,
    /// Nil bulk for XADD: that `signal_id` is already stored.
    Duplicate,
    /// `-TRYAGAIN ..., retry in <ms> ms` (or a partition unavailable): keep and retry.
    TryAgain {
        retry_after_ms: Option<u64>,
        message: String,
    },
    /// `-ERR invalid update: ...`: the update can never be stored; drop it.
    Invalid(String),
    /// Any other error (`-NOPERM`, `-NOAUTH`, ...): a configuration problem.
    Refused(String),
}

/// Classifies the reply to one write command.
pub fn write_reply(value: &RespValue) -> WriteReply {
    match value {
        RespValue::Int(n) if *n > 0 => WriteReply::Stored,
        RespValue::Int(_) => WriteReply::Stale,
        RespValue::Simple(_) | RespValue::Bulk(Some(_)) => WriteReply::Stored,
        RespValue::Bulk(None) | RespValue::Null | RespValue::Array(None) => WriteReply::Duplicate,
        RespValue::Error(text) if text.starts_with("TRYAGAIN") => WriteReply::TryAgain {
            retry_after_ms: retry_in_ms(text),
            message: text.clone(),
        },
        RespValue::Error(text) if text.starts_with("ERR invalid update") => {
            WriteReply::Invalid(text.clone())
        }
        RespValue::Error(text) => WriteReply::Refused(text.clone()),
        other => WriteReply::Refused(format!("unexpected reply {other:?}")),
    }
}

/// The `<ms>` of `... retry in <ms> ms`.
fn retry_in_ms(text: &str) -> Option<u64> {
    let rest = &text[text.rfind("retry in ")? + "retry in ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resp2_and_resp3_values() {
        let buf = b":3\r\n$-1\r\n$3\r\n1-0\r\n>2\r\n$8\r\nthrottle\r\n:250\r\n%1\r\n+a\r\n:1\r\n";
        let mut at = 0;
        let mut values = Vec::new();
        while let Some((value, used)) = parse(&buf[at..]).unwrap() {
            values.push(value);
            at += used;
        }
        assert_eq!(at, buf.len());
        assert_eq!(values[0], RespValue::Int(3));
        assert_eq!(values[1], RespValue::Bulk(None));
        assert_eq!(values[2], RespValue::Bulk(Some(b"1-0".to_vec())));
        assert_eq!(throttle_push(&values[3]), Some(250));
        let (stale, _) = parse(b">3\r\n$5\r\nstale\r\n$7\r\nris:{T}\r\n:77\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(stale_push(&stale), Some(77));
        assert_eq!(throttle_push(&stale), None);
        assert!(matches!(values[4], RespValue::Map(ref m) if m.len() == 1));
    }

    #[tokio::test]
    async fn reader_reads_values_split_across_reads() {
        let (mut server, client) = tokio::io::duplex(8);
        let mut reader = RespReader::with_capacity(8, client);
        let wire = b"*2\r\n$5\r\nhello\r\n:42\r\n>2\r\n$8\r\nthrottle\r\n:9\r\n+OK\r\n";
        let writer = tokio::spawn(async move {
            for chunk in wire.chunks(3) {
                server.write_all(chunk).await.unwrap();
            }
        });
        let first = reader.read_value().await.unwrap();
        assert_eq!(
            first,
            RespValue::Array(Some(vec![
                RespValue::Bulk(Some(b"hello".to_vec())),
                RespValue::Int(42)
            ]))
        );
        assert_eq!(throttle_push(&reader.read_value().await.unwrap()), Some(9));
        assert_eq!(
            reader.read_value().await.unwrap(),
            RespValue::Simple("OK".into())
        );
        writer.await.unwrap();
        let end = reader.read_value().await.unwrap_err();
        assert_eq!(end.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        assert_eq!(parse(b"$5\r\nab").unwrap(), None);
        assert_eq!(parse(b"*2\r\n:1\r\n").unwrap(), None);
        assert_eq!(parse(b":1").unwrap(), None);
    }

    #[test]
    fn write_replies_are_classified() {
        assert_eq!(write_reply(&RespValue::Int(19)), WriteReply::Stored);
        assert_eq!(write_reply(&RespValue::Int(0)), WriteReply::Stale);
        assert_eq!(write_reply(&RespValue::Bulk(None)), WriteReply::Duplicate);
        assert_eq!(
            write_reply(&RespValue::Error(
                "TRYAGAIN terminal T1 over its rate, retry in 120 ms".into()
            )),
            WriteReply::TryAgain {
                retry_after_ms: Some(120),
                message: "TRYAGAIN terminal T1 over its rate, retry in 120 ms".into()
            }
        );
        assert!(matches!(
            write_reply(&RespValue::Error("ERR invalid update: volume: ...".into())),
            WriteReply::Invalid(_)
        ));
        assert!(matches!(
            write_reply(&RespValue::Error("NOPERM no".into())),
            WriteReply::Refused(_)
        ));
    }
}
