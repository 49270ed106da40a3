//! LZF, the compression RDB files use for long strings (`lzf_c.c` / `lzf_d.c` formats).
//!
//! A compressed stream is a sequence of chunks:
//! - `000LLLLL` + L+1 literal bytes;
//! - `LLLooooo oooooooo` (L in 1..=6) or `111ooooo LLLLLLLL oooooooo`: copy L+2 (or 7+L+2)
//!   bytes starting `offset+1` bytes back in the output.
//!
//! The compressor is a greedy single-hash matcher like liblzf's; its output is what any LZF
//! decoder (redis-server's included) reads.

/// Largest hash table (entries, log2); small inputs use a table sized to them, so
/// compressing a 30-byte string does not clear 64 KB.
const MAX_HASH_BITS: u32 = 14;
const MIN_HASH_BITS: u32 = 6;
const MAX_LITERAL: usize = 32;
const MAX_OFFSET: usize = 1 << 13;
const MAX_MATCH: usize = 264;

#[inline]
fn hash3(b: &[u8], bits: u32) -> usize {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
}

/// Length of the common prefix of `a` and `b` (at most `b.len()`), eight bytes at a time.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let max = a.len().min(b.len());
    let mut k = 0;
    while k + 8 <= max {
        let x = u64::from_le_bytes(a[k..k + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[k..k + 8].try_into().expect("8 bytes"));
        if x != y {
            return k + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < max && a[k] == b[k] {
        k += 1;
    }
    k
}

fn flush_literals(out: &mut Vec<u8>, lits: &[u8]) {
    for chunk in lits.chunks(MAX_LITERAL) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

/// The compressor's hash table and output buffer, kept between calls: a snapshot compresses
/// millions of short strings, and two allocations per string were a fifth of its time.
#[derive(Default)]
pub struct Compressor {
    table: Vec<u32>,
    out: Vec<u8>,
}

impl Compressor {
    /// Compresses `input` into the compressor's own buffer (valid until the next call); `None`
    /// when the result would not be shorter than `max_out` bytes (Redis then stores the
    /// string plainly).
    pub fn compress(&mut self, input: &[u8], max_out: usize) -> Option<&[u8]> {
        let n = input.len();
        let bits = (usize::BITS - n.leading_zeros()).clamp(MIN_HASH_BITS, MAX_HASH_BITS);
        self.table.clear();
        self.table.resize(1 << bits, 0);
        self.out.clear();
        self.out.reserve(max_out.min(n) + MAX_LITERAL);
        let (table, out) = (&mut self.table[..], &mut self.out);
        let mut lit_start = 0;
        let mut i = 0;
        while i + 2 < n {
            let h = hash3(&input[i..], bits);
            let candidate = table[h] as usize;
            table[h] = (i + 1) as u32;
            if candidate > 0 {
                let r = candidate - 1;
                let distance = i - r;
                if distance <= MAX_OFFSET && input[r..r + 3] == input[i..i + 3] {
                    let len =
                        3 + common_prefix(&input[r + 3..], &input[i + 3..n.min(i + MAX_MATCH)]);
                    flush_literals(out, &input[lit_start..i]);
                    let off = distance - 1;
                    let l = len - 2;
                    if l < 7 {
                        out.push(((l as u8) << 5) | (off >> 8) as u8);
                    } else {
                        out.push((7 << 5) | (off >> 8) as u8);
                        out.push((l - 7) as u8);
                    }
                    out.push((off & 0xff) as u8);
                    if out.len() >= max_out {
                        return None;
                    }
                    // Index the positions inside the match too (cheap, improves later matches).
                    let end = i + len;
                    for j in i + 1..end.min(n - 2) {
                        table[hash3(&input[j..], bits)] = (j + 1) as u32;
                    }
                    i = end;
                    lit_start = i;
                    continue;
                }
            }
            i += 1;
            if out.len() + (i - lit_start) >= max_out + MAX_LITERAL {
                return None;
            }
        }
        flush_literals(out, &input[lit_start..]);
        (out.len() < max_out).then_some(&out[..])
    }
}

/// Decompresses `input` into exactly `out_len` bytes; `Err` names what is wrong.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(out_len);
    decompress_into(input, out_len, &mut out)?;
    Ok(out)
}

/// Decompresses `input` (exactly `out_len` bytes) into `out`, replacing its contents: loading
/// reuses one buffer for every compressed blob instead of allocating one per string.
pub fn decompress_into(
    input: &[u8],
    out_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    out.clear();
    out.reserve(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if ip + len > input.len() {
                return Err("LZF literal run past the end of the input");
            }
            if out.len() + len > out_len {
                return Err("LZF output longer than announced");
            }
            out.extend_from_slice(&input[ip..ip + len]);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                let Some(&b) = input.get(ip) else {
                    return Err("LZF back reference past the end of the input");
                };
                len += b as usize;
                ip += 1;
            }
            let Some(&b) = input.get(ip) else {
                return Err("LZF back reference past the end of the input");
            };
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + b as usize + 1;
            len += 2;
            if back > out.len() {
                return Err("LZF back reference before the start of the output");
            }
            if out.len() + len > out_len {
                return Err("LZF output longer than announced");
            }
            copy_back(out, back, len);
        }
    }
    if out.len() != out_len {
        return Err("LZF output shorter than announced");
    }
    Ok(())
}

/// Appends `len` bytes starting `back` bytes before the end (`back <= out.len()`). The source
/// may overlap what is being appended (a run): the appended bytes repeat with period `back`,
/// so copying from the same start in chunks that double keeps every copy non-overlapping.
#[inline]
fn copy_back(out: &mut Vec<u8>, back: usize, len: usize) {
    let start = out.len() - back;
    let mut left = len;
    while left > 0 {
        let n = left.min(out.len() - start);
        out.extend_from_within(start..start + n);
        left -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
        Compressor::default()
            .compress(input, max_out)
            .map(<[u8]>::to_vec)
    }

    fn round_trip(data: &[u8]) {
        if let Some(c) = compress(data, data.len()) {
            assert!(c.len() < data.len());
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn compresses_repetitive_text_and_restores_it() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(50);
        let c = compress(&data, data.len()).unwrap();
        assert!(c.len() < data.len() / 10);
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        round_trip(&[7u8; 10_000]);
        round_trip(b"short");
    }

    #[test]
    fn random_data_does_not_compress_and_garbage_is_an_error() {
        let mut x = 12345u64;
        let data: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(compress(&data, data.len()).is_none());
        assert!(decompress(&[0xe0, 0x10], 100).is_err());
        assert!(decompress(&[5, 1, 2], 6).is_err());
    }

    #[test]
    fn a_reused_compressor_matches_a_fresh_one() {
        let inputs: Vec<Vec<u8>> = vec![
            b"abcabcabcabcabcabcabcabcabcabc".repeat(40),
            b"v12-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_vec(),
            (0..=255u8).cycle().take(5000).collect(),
            b"hello world hello world hello".to_vec(),
        ];
        let mut reused = Compressor::default();
        for _ in 0..2 {
            for data in &inputs {
                let fresh = compress(data, data.len());
                assert_eq!(reused.compress(data, data.len()).map(<[u8]>::to_vec), fresh);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_round_trips(data in proptest::collection::vec(0u8..4, 0..3000)) {
            round_trip(&data);
        }
    }
}
