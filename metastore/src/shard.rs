//! Shards of an index: the message groups that feed it, each serialized by the FIFO queue,
//! indexing in parallel with the others.
//!
//! A staging object belongs to a shard by a stable function of its key, so that every delivery
//! of one object reaches the same shard, whose checkpoint makes it exactly-once. The function
//! is one EventBridge can evaluate (a rule cannot hash, but its wildcards can match a key's
//! end): the key's trailing lowercase hex digits, at most two, ahead of a `.gz` extension.
//! Firehose names its objects so (a random UUID ends the name). A key without a trailing hex
//! digit is hashed instead (FNV-1a): `hydrant backfill` routes it, a stack's rules cannot (see
//! `infra/`).
//!
//! The shard count K is a power of two up to [`MAX_SHARDS`], so that raising it splits shards
//! without moving keys between the others: under K shards a key with shard key `v` goes to
//! `v mod K`, and under any earlier count it went to `v mod 2^j` for some `j`. Those
//! [`candidate_shards`] are the only checkpoints that can hold the key, whatever the history of
//! K, which is how an object redelivered across a change is still indexed once.
//!
//! ```
//! use hydrant_metastore::shard;
//!
//! let key = "firehose/2026/12/05/09/logs-1-2026-12-05-09-14-00-6f1c0b2e-77d4-4f0e-9b1a-1c2d3e4f5a6b.gz";
//! assert_eq!(shard::shard_key(key), 0x6b);
//! assert_eq!(shard::shard_for(key, 4), 0x6b % 4);
//! assert_eq!(shard::message_group("logs", 3), "logs/3");
//! assert_eq!(shard::parse_message_group("logs/3"), ("logs", 3));
//! assert_eq!(shard::parse_message_group("logs"), ("logs", 0));
//! ```

use std::collections::BTreeSet;

/// A shard of an index, `0..K`.
pub type ShardId = u32;

/// Most shards an index can have: the shard key is one byte.
pub const MAX_SHARDS: u32 = 256;

/// Whether `num_shards` is a shard count Hydrant can route: a power of two up to
/// [`MAX_SHARDS`].
pub fn validate_num_shards(num_shards: u32) -> Result<(), String> {
    if num_shards == 0 || num_shards > MAX_SHARDS || !num_shards.is_power_of_two() {
        return Err(format!(
            "a shard count must be a power of two from 1 to {MAX_SHARDS}, got {num_shards}"
        ));
    }
    Ok(())
}

/// The byte a key is sharded by: its trailing lowercase hex digits, at most two, before a
/// `.gz` extension (`…-9f` is `0x9f`, `…-x5` is `5`), else the low byte of its FNV-1a hash.
///
/// With one trailing digit `d` the byte is `d` itself, so that under up to 16 shards (which
/// divide 16) the shard is the last digit's: what an EventBridge rule matching `*{d}` routes.
pub fn shard_key(object_key: &str) -> u8 {
    let stem = object_key.strip_suffix(".gz").unwrap_or(object_key);
    let hex = |digit: Option<&u8>| match digit {
        Some(digit @ b'0'..=b'9') => Some(digit - b'0'),
        Some(digit @ b'a'..=b'f') => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut digits = stem.as_bytes().iter().rev();
    match (hex(digits.next()), hex(digits.next())) {
        (Some(low), Some(high)) => high << 4 | low,
        (Some(low), None) => low,
        _ => fnv1a(object_key.as_bytes()) as u8,
    }
}

/// The shard of `object_key` among `num_shards` (a valid count, see [`validate_num_shards`]).
pub fn shard_for(object_key: &str, num_shards: u32) -> ShardId {
    u32::from(shard_key(object_key)) % num_shards.clamp(1, MAX_SHARDS)
}

/// Every shard `object_key` may have been indexed in under any shard count: `v mod 2^j` for
/// its shard key `v`.
pub fn candidate_shards(object_key: &str) -> BTreeSet<ShardId> {
    let key = u32::from(shard_key(object_key));
    (0..=MAX_SHARDS.trailing_zeros())
        .map(|bits| key % (1 << bits))
        .collect()
}

/// The FIFO message group of a shard: the route's group (an index id, or a pattern), with
/// `/{shard}` for every shard but 0, so that an index of one shard keeps the group it always
/// had.
pub fn message_group(group: &str, shard: ShardId) -> String {
    match shard {
        0 => group.to_string(),
        shard => format!("{group}/{shard}"),
    }
}

/// The route's group and the shard of a message group (`logs/3` → `("logs", 3)`; a group
/// without a shard is shard 0). Index ids cannot hold `/`, so the split is unambiguous.
pub fn parse_message_group(group_id: &str) -> (&str, ShardId) {
    match group_id.rsplit_once('/') {
        Some((group, shard)) => match shard.parse::<ShardId>() {
            Ok(shard) if shard < MAX_SHARDS => (group, shard),
            _ => (group_id, 0),
        },
        None => (group_id, 0),
    }
}

/// 64-bit FNV-1a: tiny, stable across versions and platforms (unlike `std`'s hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firehose_keys_shard_by_their_last_hex_digits() {
        assert_eq!(shard_key("a/b-0123456789ab"), 0xab);
        assert_eq!(shard_key("a/b-0123456789ab.gz"), 0xab);
        assert_eq!(shard_key("a/b-00"), 0);
        assert_eq!(shard_key("a/b-ff.gz"), 0xff);
        assert_eq!(shard_key("a/b-x5"), 5);
        assert_eq!(shard_key("a/b-x5.gz"), 5);
        // Up to 16 shards, the last digit decides, as a rule matching `*{digit}` does.
        for key in ["a/b-95", "a/b-x5", "a/b-c5.gz"] {
            assert_eq!(shard_for(key, 16), 5, "{key}");
            assert_eq!(shard_for(key, 4), 1, "{key}");
        }
        // Upper case and other endings are hashed, stably.
        assert_eq!(shard_key("a/b-FF"), fnv1a(b"a/b-FF") as u8);
        assert_eq!(shard_key("orders.json"), fnv1a(b"orders.json") as u8);
        assert_eq!(shard_key("x"), fnv1a(b"x") as u8);
        assert_eq!(shard_key(""), fnv1a(b"") as u8);
    }

    #[test]
    fn raising_the_shard_count_keeps_every_key_among_its_candidates() {
        for key in ["k-00", "k-7f", "k-ff.gz", "orders-1.json", "z"] {
            let candidates = candidate_shards(key);
            let mut count = 1;
            while count <= MAX_SHARDS {
                assert!(candidates.contains(&shard_for(key, count)), "{key} {count}");
                count *= 2;
            }
            assert!(candidates.contains(&0));
            assert!(candidates.len() <= 9);
        }
    }

    /// The table `infra/tests/test_template.py` checks the stack's rules against: each key
    /// and its shard among 4, 8 and 64.
    #[test]
    fn the_stacks_routing_table() {
        let firehose = "firehose/2026/12/05/09/logs-1-2026-12-05-09-14-00-6f1c0b2e-77d4-4f0e-9b1a-1c2d3e4f5a6b";
        let table = [
            (firehose.to_string(), [3, 3, 43]),
            (format!("{firehose}.gz"), [3, 3, 43]),
            ("firehose/x-00.gz".to_string(), [0, 0, 0]),
            ("firehose/x-ff".to_string(), [3, 7, 63]),
            ("firehose/x-7e.gz".to_string(), [2, 6, 62]),
        ];
        for (key, shards) in table {
            let routed = [4, 8, 64].map(|count| shard_for(&key, count));
            assert_eq!(routed, shards, "{key}");
        }
    }

    #[test]
    fn shard_counts_are_powers_of_two() {
        for good in [1, 2, 4, 64, 256] {
            assert!(validate_num_shards(good).is_ok());
        }
        for bad in [0, 3, 6, 512] {
            assert!(validate_num_shards(bad).is_err());
        }
    }

    #[test]
    fn message_groups_round_trip() {
        for shard in [0, 1, 255] {
            assert_eq!(
                parse_message_group(&message_group("logs-*", shard)),
                ("logs-*", shard)
            );
        }
        assert_eq!(parse_message_group("a/b/x"), ("a/b/x", 0));
        assert_eq!(parse_message_group("a/999"), ("a/999", 0));
    }
}
