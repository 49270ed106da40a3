//! Reply encoding: writes RESP2 or RESP3 replies straight into a connection's output buffer.
//!
//! Every command writes through [`Reply`], which knows the protocol the client chose with HELLO,
//! so handlers say "a map of n pairs" or "a double" once and get the right bytes for either
//! protocol — the same split Redis makes with `addReplyMapLen`, `addReplyDouble` and friends.

use crate::util::format_double;

/// The output buffer of one connection plus the protocol version it speaks.
#[derive(Debug, Default)]
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Reply {
    pub fn new() -> Self {
        Reply {
            buf: Vec::with_capacity(1024),
            resp3: false,
        }
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`). The text must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `text` carries its code (`ERR ...`, `WRONGTYPE ...`). Newlines are turned
    /// into spaces, as Redis does, so a message can never break the protocol.
    pub fn error(&mut self, text: &str) {
        self.buf.push(b'-');
        self.buf.extend(
            text.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// [`Reply::error`] for a message that may hold any bytes (protocol errors quote the byte
    /// the client sent).
    pub fn error_bytes(&mut self, text: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string, or the null bulk string for `None`.
    #[inline]
    pub fn bulk_or_null(&mut self, data: Option<impl AsRef<[u8]>>) {
        match data {
            Some(d) => self.bulk(d.as_ref()),
            None => self.null(),
        }
    }

    /// An integer sent as a bulk string, as Redis does for string values stored as integers.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of `2n` in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` elements: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A push message header (`>n` in RESP3, an array in RESP2), for pub/sub.
    pub fn push(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double: a bulk string in RESP2 and `,` in RESP3, formatted like Redis 7.0 (`%.17g`).
    pub fn double(&mut self, d: f64) {
        let text = format_double(d);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3), a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8], format: &str) {
        if self.resp3 {
            self.header(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r = Reply::new();
        r.map(1);
        r.null();
        r.double(1.5);
        assert_eq!(r.buf, b"*2\r\n$-1\r\n$3\r\n1.5\r\n");
        let mut r = Reply::new();
        r.resp3 = true;
        r.map(1);
        r.null();
        r.double(f64::INFINITY);
        assert_eq!(r.buf, b"%1\r\n_\r\n,inf\r\n");
    }

    #[test]
    fn errors_cannot_break_the_protocol() {
        let mut r = Reply::new();
        r.error("ERR bad\r\nthing");
        assert_eq!(r.buf, b"-ERR bad  thing\r\n");
    }
}
