//! The shape of the rax Redis would keep the nodes in, for XINFO STREAM's
//! `radix-tree-nodes`: derived from the node keys alone, as this store keeps
//! its nodes in a `BTreeMap` rather than a rax.

use super::StreamId;

/// Length of a rax key: the ID as two big-endian u64.
const RAX_KEY_LEN: u32 = 16;

/// Leading bytes two distinct IDs share in their rax key form.
fn shared_key_bytes(a: StreamId, b: StreamId) -> u32 {
    let key = |id: StreamId| (u128::from(id.ms) << 64) | u128::from(id.seq);
    (key(a) ^ key(b)).leading_zeros() / 8
}

/// Nodes of a canonical rax holding `keys` (sorted, distinct, all 16 bytes).
///
/// Over the compressed trie of the keys, a rax has: the head node (a
/// compressed chain when all keys share a first byte, else the first
/// branching node); one node per other branching vertex and per key (an
/// empty leaf); and, for each edge leaving a branching node whose label is
/// longer than one byte, a node for the label after its first byte (that
/// byte lives in the branching node). Branching vertices sit at the depths
/// of the common prefixes of adjacent keys; a monotonic stack finds each one
/// once, with its parent (the deeper of its nearest shallower neighbours).
pub(super) fn rax_node_count(keys: &[StreamId]) -> u64 {
    let Some(last) = keys.len().checked_sub(1) else {
        return 1;
    };
    let shared: Vec<u32> = keys
        .windows(2)
        .map(|w| shared_key_bytes(w[0], w[1]))
        .collect();
    let mut nodes = 1 + keys.len() as u64;
    for i in 0..=last {
        let left = i.checked_sub(1).map(|j| shared[j]);
        let right = shared.get(i).copied();
        // A parent at depth 0 is a branching head; no parent: the key hangs
        // off the head's chain.
        if let Some(parent) = left.max(right) {
            nodes += u64::from(RAX_KEY_LEN - parent > 1);
        }
    }
    let branch_nodes = |depth: u32, parent: Option<u32>| -> u64 {
        if depth == 0 {
            return 0; // the head itself
        }
        1 + parent.map_or(0, |p| u64::from(depth - p > 1))
    };
    let mut stack: Vec<u32> = Vec::new();
    for &depth in &shared {
        while let Some(&top) = stack.last() {
            if top <= depth {
                break;
            }
            stack.pop();
            nodes += branch_nodes(top, stack.last().copied().max(Some(depth)));
        }
        if stack.last() != Some(&depth) {
            stack.push(depth);
        }
    }
    while let Some(top) = stack.pop() {
        nodes += branch_nodes(top, stack.last().copied());
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::tests::id;
    use proptest::prelude::*;

    /// The rax node count built literally: a chain node where keys share
    /// bytes, a branching node where they split, a leaf per key.
    fn naive_rax_nodes(keys: &[[u8; 16]]) -> u64 {
        fn start(keys: &[[u8; 16]], depth: usize) -> u64 {
            if depth == 16 {
                return 1;
            }
            let mut shared = 16;
            for k in &keys[1..] {
                let same = (depth..16).take_while(|&i| k[i] == keys[0][i]).count();
                shared = shared.min(depth + same);
            }
            if shared > depth {
                return 1 + if shared == 16 {
                    1
                } else {
                    branch(keys, shared)
                };
            }
            branch(keys, depth)
        }
        fn branch(keys: &[[u8; 16]], depth: usize) -> u64 {
            let mut nodes = 1;
            let mut i = 0;
            while i < keys.len() {
                let j = i + keys[i..]
                    .iter()
                    .take_while(|k| k[depth] == keys[i][depth])
                    .count();
                nodes += start(&keys[i..j], depth + 1);
                i = j;
            }
            nodes
        }
        if keys.is_empty() {
            1
        } else {
            start(keys, 0)
        }
    }

    fn rax_key(id: StreamId) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&id.ms.to_be_bytes());
        k[8..].copy_from_slice(&id.seq.to_be_bytes());
        k
    }

    #[test]
    fn rax_nodes_match_redis_samples() {
        // Values read from redis-server 7.0.15 XINFO STREAM.
        assert_eq!(rax_node_count(&[]), 1);
        assert_eq!(rax_node_count(&[id(1, 1)]), 2);
        assert_eq!(rax_node_count(&[id(1, 1), id(1, 2)]), 4);
    }

    proptest! {
        #[test]
        fn prop_rax_nodes_match_naive(raw in prop::collection::btree_set(
            (prop::sample::select(vec![0u64, 1, 255, 256, 65_536, 1 << 40, u64::MAX]),
             prop::sample::select(vec![0u64, 1, 2, 255, 256, 300, 1 << 20, u64::MAX])),
            0..40,
        )) {
            let ids: Vec<StreamId> = raw.iter().map(|&(ms, seq)| id(ms, seq)).collect();
            let keys: Vec<[u8; 16]> = ids.iter().map(|&i| rax_key(i)).collect();
            prop_assert_eq!(rax_node_count(&ids), naive_rax_nodes(&keys));
        }
    }
}
