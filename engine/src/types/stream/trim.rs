//! Trimming (XTRIM, and XADD's MAXLEN / MINID): the options as Redis's
//! `streamParseAddOrTrimArgsOrReply` parses them, which also takes XADD's
//! NOMKSTREAM and ID since both commands share that parser, and
//! [`Stream::trim`] itself.

use super::id::{c_str, string2ll};
use super::node::FLAG_DELETED;
use super::{Stream, StreamError, StreamId, XaddId};

/// What XTRIM / XADD trimming keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep (at least, with `~`) this many entries.
    MaxLen(u64),
    /// Remove entries with IDs below this one.
    MinId(StreamId),
}

/// One trim request, as Redis's `streamTrim` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrimArgs {
    pub strategy: TrimStrategy,
    /// `~`: remove whole nodes only.
    pub approx: bool,
    /// Stop before a node whose removal would bring the removed count above
    /// this; 0 = no limit. Exact trims have 0 (LIMIT needs `~`).
    pub limit: u64,
}

/// The LIMIT Redis 7.0 uses for `~` trims without LIMIT:
/// `100 * stream-node-max-entries` (so 0, no limit, when that config is 0).
pub fn default_approx_limit(node_max_entries: usize) -> u64 {
    (node_max_entries as u64).saturating_mul(100)
}

/// Result of [`parse_add_or_trim_args`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddTrimArgs {
    pub trim: Option<TrimArgs>,
    /// XADD NOMKSTREAM.
    pub nomkstream: bool,
    /// XADD's ID ([`XaddId::Auto`] when `*`, or when no ID was reached).
    pub id: XaddId,
    /// Index (into the slice given) where the loop stopped: XADD's ID, so
    /// field/value pairs start at `id_index + 1`; `args.len()` when the
    /// options ran to the end. XADD's arity check is then
    /// `args.len() < id_index + 3 || (args.len() - id_index - 1) % 2 == 1`.
    pub id_index: usize,
    /// Index of the MAXLEN count / MINID argument (Redis rewrites it, and
    /// the `~` before it, when propagating an approximate trim).
    pub trim_arg_index: Option<usize>,
}

/// Redis `streamParseAddOrTrimArgsOrReply` for a normal client. `args` is
/// argv after the key (`argv[2..]`); `xadd` selects XADD (ID, NOMKSTREAM)
/// vs XTRIM. Errors come in Redis's order. For commands from a master or the
/// AOF, Redis then forces `limit = 0` (not done here).
pub fn parse_add_or_trim_args(
    args: &[&[u8]],
    xadd: bool,
    node_max_entries: usize,
) -> Result<AddTrimArgs, StreamError> {
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: u64 = 0;
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = XaddId::Auto;
    let mut trim_arg_index = None;
    let argc = args.len();
    let mut i = 0;
    while i < argc {
        let moreargs = argc - 1 - i;
        let opt = c_str(args[i]);
        if xadd && opt == b"*" {
            break;
        } else if moreargs > 0
            && (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid"))
        {
            if strategy.is_some() {
                return Err(StreamError::MaxLenAndMinId);
            }
            approx = false;
            let next = c_str(args[i + 1]);
            if moreargs >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = string2ll(args[i + 1]).ok_or(StreamError::NotAnInteger)?;
                if n < 0 {
                    return Err(StreamError::MaxLenNegative);
                }
                strategy = Some(TrimStrategy::MaxLen(n as u64));
            } else {
                strategy = Some(TrimStrategy::MinId(StreamId::parse_strict(args[i + 1])?));
            }
            i += 1;
            trim_arg_index = Some(i);
        } else if moreargs > 0 && opt.eq_ignore_ascii_case(b"limit") {
            let n = string2ll(args[i + 1]).ok_or(StreamError::NotAnInteger)?;
            if n < 0 {
                return Err(StreamError::LimitNegative);
            }
            limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            nomkstream = true;
        } else if xadd {
            id = XaddId::parse(args[i])?;
            break;
        } else {
            return Err(StreamError::SyntaxError);
        }
        i += 1;
    }
    if limit != 0 && strategy.is_none() {
        return Err(StreamError::LimitWithoutStrategy);
    }
    if !xadd && strategy.is_none() {
        return Err(StreamError::XtrimWithoutStrategy);
    }
    if limit_given {
        if !approx {
            return Err(StreamError::LimitWithoutApprox);
        }
    } else if approx {
        limit = default_approx_limit(node_max_entries);
    }
    Ok(AddTrimArgs {
        trim: strategy.map(|strategy| TrimArgs {
            strategy,
            approx,
            limit,
        }),
        nomkstream,
        id,
        id_index: i,
        trim_arg_index,
    })
}

impl Stream {
    /// Redis `streamTrim`; returns the number of entries removed.
    ///
    /// Walks nodes from the oldest. A node goes whole when, for MAXLEN,
    /// `len - node_live >= maxlen`, or, for MINID, its last entry (deleted
    /// or not) is `< minid`; but the walk stops first when
    /// `limit != 0 && removed + node_live > limit`. With `approx` it stops
    /// at the first node it cannot remove whole; otherwise it marks that
    /// node's entries deleted one by one until `len <= maxlen` / an ID
    /// `>= minid`, and stops. As in Redis 7.0 a node emptied this way (MINID
    /// when its tail entries were already XDELed) stays until a later trim
    /// removes it, and still takes appends when it is the tail node.
    pub fn trim(&mut self, args: TrimArgs) -> u64 {
        let mut deleted: u64 = 0;
        while let Some(mut slot) = self.nodes.first_entry() {
            if matches!(args.strategy, TrimStrategy::MaxLen(maxlen) if self.length <= maxlen) {
                break;
            }
            let entries = slot.get().live;
            if args.limit != 0 && deleted + entries > args.limit {
                break;
            }
            let remove = match args.strategy {
                TrimStrategy::MaxLen(maxlen) => self.length - entries >= maxlen,
                TrimStrategy::MinId(min) => slot.get().last_id() < min,
            };
            if remove {
                slot.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if args.approx {
                break;
            }
            let node = slot.get_mut();
            let mut pos = node.entries_off;
            while pos < node.buf.len() {
                let h = node.header(pos);
                let stop = match args.strategy {
                    TrimStrategy::MaxLen(maxlen) => self.length <= maxlen,
                    TrimStrategy::MinId(min) => h.id >= min,
                };
                if stop {
                    break;
                }
                let next = node.entry_end(pos, &h);
                if h.flags & FLAG_DELETED == 0 {
                    node.mark_deleted(pos);
                    self.length -= 1;
                    deleted += 1;
                }
                pos = next;
            }
            break;
        }
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_live_id()
        };
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::tests::id;

    #[test]
    fn add_trim_option_parsing() {
        let p = |xadd: bool, a: &[&str]| {
            let v: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
            parse_add_or_trim_args(&v, xadd, 100)
        };
        let r = p(true, &["*", "f", "v"]).unwrap();
        assert_eq!((r.trim, r.id, r.id_index), (None, XaddId::Auto, 0));
        let r = p(true, &["NOMKSTREAM", "maxlen", "~", "10", "5-*", "f", "v"]).unwrap();
        assert!(r.nomkstream);
        assert_eq!(r.id, XaddId::AutoSeq(5));
        assert_eq!(r.id_index, 4);
        assert_eq!(r.trim_arg_index, Some(3));
        assert_eq!(
            r.trim,
            Some(TrimArgs {
                strategy: TrimStrategy::MaxLen(10),
                approx: true,
                limit: 10_000
            })
        );
        let r = p(false, &["MINID", "=", "5-1"]).unwrap();
        assert_eq!(
            r.trim,
            Some(TrimArgs {
                strategy: TrimStrategy::MinId(id(5, 1)),
                approx: false,
                limit: 0
            })
        );
        let r = p(false, &["minid", "~", "5", "LIMIT", "0"]).unwrap();
        assert_eq!(r.trim.unwrap().limit, 0);
        let r = p(false, &["maxlen", "~", "5", "limit", "7"]).unwrap();
        assert_eq!(r.trim.unwrap().limit, 7);
        // Ran off the end: the command layer's arity check then fails.
        assert_eq!(p(true, &["maxlen", "=", "1"]).unwrap().id_index, 3);
        use StreamError::*;
        let cases: &[(bool, &[&str], StreamError)] = &[
            (true, &["limit", "5", "*", "a", "b"], LimitWithoutStrategy),
            (true, &["limit", "0", "*", "a", "b"], LimitWithoutApprox),
            (false, &["limit", "0", "maxlen", "1"], LimitWithoutApprox),
            (
                false,
                &["maxlen", "=", "1", "limit", "0"],
                LimitWithoutApprox,
            ),
            (true, &["maxlen", "-1", "*", "a", "b"], MaxLenNegative),
            (true, &["maxlen", "1", "limit", "-1", "*"], LimitNegative),
            (true, &["maxlen", "1", "minid", "5", "*"], MaxLenAndMinId),
            (true, &["maxlen", "1", "maxlen", "2", "*"], MaxLenAndMinId),
            (false, &["limit", "1"], LimitWithoutStrategy),
            (false, &[], XtrimWithoutStrategy),
            (false, &["maxlen", "1", "foo"], SyntaxError),
            (true, &["maxlen", "x", "*"], NotAnInteger),
            (false, &["maxlen", "00"], NotAnInteger),
            (false, &["maxlen", "-0"], NotAnInteger),
            (false, &["maxlen", " 1"], NotAnInteger),
            (false, &["maxlen", "18446744073709551615"], NotAnInteger),
            (false, &["minid", "5-*"], InvalidId),
            (true, &["maxlen"], InvalidId),
            (true, &["-", "f", "v"], InvalidId),
        ];
        for (xadd, args, err) in cases {
            assert_eq!(p(*xadd, args).unwrap_err(), *err, "{args:?}");
        }
        assert_eq!(
            MaxLenAndMinId.message(),
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
        );
        assert_eq!(default_approx_limit(0), 0);
        assert_eq!(default_approx_limit(1000), 100_000);
    }
}
