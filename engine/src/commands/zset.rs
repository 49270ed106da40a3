//! Sorted set commands: ZADD, ZRANGE and its variants, ZRANK, ZSCORE, ZPOP*, set algebra, ZSCAN.
