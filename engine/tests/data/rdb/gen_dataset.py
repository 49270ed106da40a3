#!/usr/bin/env python3
"""Writes dataset.redis: redis-cli commands (one per line, no quoting needed) building a data
set with every type in small and large encodings, TTLs, several databases and a stream with
consumer groups and pending entries. Deterministic: explicit stream IDs, absolute expiry times."""

FAR = 4102444800000  # 2100-01-01, so TTLs never pass while the files are in use
out = []
w = out.append
w("FLUSHALL")
w("SET str:small hello")
w("SET str:int 12345")
w("SET str:neg -42")
w("SET str:bigint 9223372036854775807")
w("SET str:long " + "abcdefghij" * 1000)
w("SET str:ttl expiring")
w(f"PEXPIREAT str:ttl {FAR}")
w("SET str:float 3.14159")
w("RPUSH list:small a b c 1 2 300000")
w("RPUSH list:big " + " ".join(f"element-{i}" for i in range(2000)))
w(f"PEXPIREAT list:big {FAR + 1}")
w("SADD set:ints 1 2 3 -7 100000 5000000000")
w("SADD set:bigints " + " ".join(str(i * 3) for i in range(600)))
w("SADD set:strs " + " ".join(f"member-{i}" for i in range(300)))
w("SADD set:small a b c")
w("ZADD zset:small 1 a 2.5 b -3 c 1e300 d 0 e")
w("ZADD zset:big " + " ".join(f"{i / 7} m{i}" for i in range(300)))
w("ZADD zset:inf +inf top -inf bottom 1 one")
w("HSET hash:small name bob age 42 score 1.5")
w("HSET hash:big " + " ".join(f"field{i} value{i}" for i in range(400)))
w("HSET hash:longval f " + "x" * 100)
w(f"PEXPIREAT hash:small {FAR + 2}")
for i in range(1, 301):
    if i % 10 == 0:
        w(f"XADD stream:big {1000 + i}-{i} other {i} extra field")
    else:
        w(f"XADD stream:big {1000 + i}-{i} price {i}.5 qty {i}")
w("XDEL stream:big 1005-5 1006-6 1150-150")
w("XGROUP CREATE stream:big workers 0")
w("XGROUP CREATE stream:big late $")
w("XREADGROUP GROUP workers alice COUNT 5 STREAMS stream:big >")
w("XREADGROUP GROUP workers bob COUNT 3 STREAMS stream:big >")
w("XACK stream:big workers 1001-1")
w("XGROUP CREATECONSUMER stream:big workers carol")
w("XADD stream:small 1-1 a 1")
w("XADD stream:empty 5-5 x y")
w("XDEL stream:empty 5-5")
w("SELECT 3")
w("SET db3:key in-db-3")
w("RPUSH db3:list x y")
w("SELECT 0")
open("dataset.redis", "w").write("\n".join(out) + "\n")
