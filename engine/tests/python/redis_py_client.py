"""redis-py (5.x) against a server on 127.0.0.1:<port>; run by engine/tests/client_tools.rs.

Usage: python3 redis_py_client.py <port>
Exits non-zero (with a traceback) on the first failed check; prints "redis-py checks passed"
at the end.
"""

import sys

import redis


def client_info(r):
    """This connection's CLIENT INFO line as a dict."""
    line = r.execute_command("CLIENT", "INFO")
    if isinstance(line, bytes):
        line = line.decode()
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def check_handshake(port):
    # redis-py sends CLIENT SETINFO LIB-NAME / LIB-VER when it connects.
    r = redis.Redis(port=port, single_connection_client=True)
    info = client_info(r)
    assert info["lib-name"] == "redis-py", info
    assert info["lib-ver"] == redis.__version__, info
    assert info["resp"] == "2", info
    # An explicit client name goes through CLIENT SETNAME.
    named = redis.Redis(port=port, client_name="tradestate-test", single_connection_client=True)
    assert client_info(named)["name"] == "tradestate-test"
    assert named.client_getname() == "tradestate-test"


def check_strings(r):
    assert r.ping() is True
    assert r.flushall() is True
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.get("missing") is None
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True, get=True) == "v"
    assert r.incr("n") == 1
    assert r.incrby("n", 41) == 42
    assert r.incrbyfloat("n", 0.5) == 42.5
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "missing", "b") == ["1", None, "2"]
    assert r.append("a", "23") == 3
    assert r.strlen("a") == 3
    assert r.getrange("a", 1, -1) == "23"
    assert r.exists("a", "b", "missing") == 2
    assert r.expire("a", 100) is True
    assert 99 <= r.ttl("a") <= 100
    assert r.persist("a") is True
    assert r.ttl("a") == -1
    assert r.type("a") == "string"
    assert r.delete("a", "b", "missing") == 2
    assert r.dbsize() == 2
    assert sorted(r.keys("*")) == ["k", "n"]
    assert sorted(r.scan_iter(count=1)) == ["k", "n"]


def check_binary(port):
    r = redis.Redis(port=port)
    value = bytes(range(256)) * 4
    assert r.set(b"\x00\xffkey", value) is True
    assert r.get(b"\x00\xffkey") == value


def expect_error(call, message, check=str.__eq__):
    """Runs `call`, which must raise a ResponseError whose text passes `check` against `message`."""
    try:
        call()
    except redis.exceptions.ResponseError as e:
        assert check(str(e), message), str(e)
    else:
        raise AssertionError(f"expected the error {message!r}")


def check_errors(r):
    r.set("text", "abc")
    expect_error(lambda: r.incr("text"), "value is not an integer or out of range")
    expect_error(
        lambda: r.execute_command("NOSUCHCOMMAND", "x"),
        "unknown command 'NOSUCHCOMMAND'",
        check=str.startswith,
    )
    expect_error(lambda: r.execute_command("GET"), "wrong number of arguments for 'get' command")
    assert r.ping() is True


def check_pipeline(r):
    pipe = r.pipeline(transaction=False)
    pipe.set("p1", "x").get("p1").incr("pc").incr("pc").get("missing").mget("p1", "pc")
    assert pipe.execute() == [True, "x", 1, 2, None, ["x", "2"]]

    # Errors inside a pipeline come back in place when asked to.
    pipe = r.pipeline(transaction=False)
    pipe.incr("p1").incr("pc")
    results = pipe.execute(raise_on_error=False)
    assert isinstance(results[0], redis.exceptions.ResponseError), results
    assert results[1] == 3

    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"bulk:{i}", i)
    for i in range(2000):
        pipe.get(f"bulk:{i}")
    out = pipe.execute()
    assert out[:2000] == [True] * 2000
    assert out[2000:] == [str(i) for i in range(2000)]


def check_resp3(port):
    # protocol=3 makes redis-py open with HELLO 3.
    r = redis.Redis(port=port, protocol=3, decode_responses=True, single_connection_client=True)
    info = client_info(r)
    assert info["resp"] == "3", info
    assert info["lib-name"] == "redis-py", info
    assert r.set("r3", "v") is True
    assert r.get("r3") == "v"
    assert r.get("missing") is None
    assert r.incr("r3n") == 1
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    raw = r.execute_command("CONFIG", "GET", "maxclients")
    assert raw == {"maxclients": "10000"}, raw
    hello = r.execute_command("HELLO", "3")
    assert hello["proto"] == 3, hello
    pipe = r.pipeline(transaction=False)
    pipe.set("r3p", 1).incr("r3p").get("r3p")
    assert pipe.execute() == [True, 2, "2"]


def main():
    port = int(sys.argv[1])
    check_handshake(port)
    r = redis.Redis(port=port, decode_responses=True)
    check_strings(r)
    check_binary(port)
    check_errors(r)
    check_pipeline(r)
    check_resp3(port)
    print("redis-py checks passed")


if __name__ == "__main__":
    main()
