//! Hash commands: HSET, HGET, HMGET, HGETALL, HDEL, HINCRBY, HSCAN, HRANDFIELD and the rest.
