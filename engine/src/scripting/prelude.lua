-- The Lua side of the scripting sandbox, run once per Lua state (sandbox.rs). It receives the
-- Rust helpers and returns the tables Rust needs to reach afterwards. Everything defined here
-- lives in the chunk named by INTERNAL, which the error handler skips so that errors point at
-- the user's script, as Redis's C functions (which have no Lua frame) do.
local INTERNAL, raw, frame, lrand48, srand48, sha1, log = ...

local error, type, tostring, tonumber, select, unpack = error, type, tostring, tonumber, select, unpack
local next_, pairs_, rawget_, rawset_ = next, pairs, rawget, rawset
local getmetatable_, setmetatable_, pcall_ = getmetatable, setmetatable, pcall
local floor, ceil = math.floor, math.ceil
local sub, find, gsub, concat = string.sub, string.find, string.gsub, table.concat
local G = _G

-- Redis's luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR; the message is
-- trimmed of CR and LF at both ends.
local function error_table(text)
    local code, msg
    if sub(text, 1, 1) == '-' then
        local sp = find(text, ' ', 1, true)
        if sp then
            code, msg = sub(text, 2, sp - 1), sub(text, sp + 1)
        else
            code, msg = 'ERR', sub(text, 2)
        end
    else
        code, msg = 'ERR', text
    end
    msg = gsub(msg, '^[\r\n]+', '')
    msg = gsub(msg, '[\r\n]+$', '')
    return {err = code .. ' ' .. msg}
end

-- A Rust function cannot raise a table: it leaves it in raw.pending and raises an error
-- object, which whoever catches it swaps for the table.
local function caught(e)
    local p = raw.pending
    if p ~= nil and type(e) == 'userdata' then
        raw.pending = nil
        return p
    end
    return e
end

-- Turns what a script raised into Redis's error table, with where it was raised.
function __redis__err__handler(err)
    err = caught(err)
    local level = 2
    local what, source, line = frame(level)
    if what == 'C' then
        level = 3
        what, source, line = frame(level)
    end
    while what and source == INTERNAL do
        level = level + 1
        what, source, line = frame(level)
    end
    if type(err) ~= 'table' then
        err = {err = 'ERR ' .. tostring(err)}
    end
    if what then
        err['source'] = source
        err['line'] = line
    end
    return err
end

local function pack(...)
    return {n = select('#', ...), ...}
end

-- Redis 7's pcall hands back the text of an error table rather than the table.
pcall = function(...)
    local r = pack(pcall_(...))
    if r[1] then
        return unpack(r, 1, r.n)
    end
    local e = caught(r[2])
    if type(e) == 'table' then
        local m = e.err
        if type(m) == 'string' or type(m) == 'number' then
            return false, m
        end
        return false, e, m
    end
    return false, e
end

local redis = {}

-- redis.call and redis.pcall are Rust functions set for each run (mod.rs): being C functions,
-- a tail call to them keeps the script's frame, which error positions need.

redis.setresp = function(...)
    if select('#', ...) ~= 1 then
        error(error_table('redis.setresp() requires one argument.'))
    end
    local resp = tonumber((...)) or 0
    resp = resp >= 0 and floor(resp) or ceil(resp)
    if resp ~= 2 and resp ~= 3 then
        error(error_table('RESP version must be 2 or 3.'))
    end
    raw.setresp(resp)
end

redis.set_repl = function(...)
    if select('#', ...) ~= 1 then
        error(error_table('redis.set_repl() requires two arguments.'))
    end
    local flags = tonumber((...)) or 0
    flags = flags >= 0 and floor(flags) or ceil(flags)
    if flags < 0 or flags > 3 then
        error(error_table('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'))
    end
    raw.set_repl(flags)
end

redis.acl_check_cmd = function(...)
    local r, raise = raw.acl_check_cmd(...)
    if raise then
        error(r)
    end
    return r
end

redis.replicate_commands = function()
    return true
end

-- The script debugger is not there: these do what Redis's do when it is off.
redis.breakpoint = function()
    return false
end
redis.debug = function() end

redis.sha1hex = function(...)
    if select('#', ...) ~= 1 then
        error(error_table('wrong number of arguments'))
    end
    local s = ...
    if type(s) == 'number' then
        s = tostring(s)
    elseif type(s) ~= 'string' then
        s = ''
    end
    return sha1(s)
end

redis.error_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return error_table('wrong number or type of arguments')
    end
    if sub(s, 1, 1) ~= '-' then
        s = '-' .. s
    end
    return error_table(s)
end

redis.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return error_table('wrong number or type of arguments')
    end
    return {ok = s}
end

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.log = function(...)
    local n = select('#', ...)
    if n < 2 then
        error(error_table('redis.log() requires two arguments or more.'))
    end
    local level = ...
    if tonumber(level) == nil then
        error(error_table('First argument must be a number (log level).'))
    end
    level = tonumber(level)
    level = level >= 0 and floor(level) or ceil(level)
    if level < 0 or level > 3 then
        error(error_table('Invalid debug level.'))
    end
    local parts = {}
    for i = 2, n do
        local v = select(i, ...)
        if type(v) == 'string' or type(v) == 'number' then
            parts[#parts + 1] = tostring(v)
        end
    end
    log(level, concat(parts, ' '))
end

redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = raw.version
redis.REDIS_VERSION_NUM = raw.version_num
raw.version, raw.version_num = nil, nil

G.redis = redis

-- luaL_checkint as the C math library applies it, for the replaced random functions.
local function checkint(i, n, fname, ...)
    local v = select(i, ...)
    local x = tonumber(v)
    if x == nil then
        local got = i > n and 'no value' or type(v)
        error("bad argument #" .. i .. " to '" .. fname .. "' (number expected, got " .. got .. ")", 3)
    end
    return x >= 0 and floor(x) or ceil(x)
end

-- Redis replaces math.random with one driven by its own lrand48, so that every machine
-- draws the same sequence.
math.random = function(...)
    local n = select('#', ...)
    local r = (lrand48() % 2147483647) / 2147483647
    if n == 0 then
        return r
    elseif n == 1 then
        local u = checkint(1, n, 'random', ...)
        if u < 1 then
            error("bad argument #1 to 'random' (interval is empty)", 2)
        end
        return floor(r * u) + 1
    elseif n == 2 then
        local l = checkint(1, n, 'random', ...)
        local u = checkint(2, n, 'random', ...)
        if l > u then
            error("bad argument #2 to 'random' (interval is empty)", 2)
        end
        return floor(r * (u - l + 1)) + l
    end
    error('wrong number of arguments', 2)
end

math.randomseed = function(...)
    srand48(checkint(1, select('#', ...), 'randomseed', ...))
end

-- Only Redis's globals stay.
local allowed = {
    string = true, cjson = true, bit = true, cmsgpack = true, math = true, table = true,
    struct = true, redis = true, __redis__err__handler = true, xpcall = true, tostring = true,
    setmetatable = true, next = true, assert = true, tonumber = true, rawequal = true,
    collectgarbage = true, getmetatable = true, rawset = true, pcall = true, coroutine = true,
    type = true, _G = true, select = true, unpack = true, gcinfo = true, pairs = true,
    rawget = true, loadstring = true, ipairs = true, _VERSION = true, load = true, error = true,
}
for k in next_, G do
    if not allowed[k] then
        rawset_(G, k, nil)
    end
end

-- Read-only tables. Redis patches its Lua to flag tables read-only; this Lua is stock, so
-- every protected table is an empty view whose reads fall through to the real table and whose
-- writes fail. The globals table itself becomes such a view (so chunks from loadstring see it
-- too), its contents moving to `hidden`, whose misses raise Redis's nonexistent global error.
local function readonly()
    error('Attempt to modify a readonly table', 2)
end
local real_of = setmetatable_({}, {__mode = 'k'})
local meta_of = setmetatable_({}, {__mode = 'k'})
local function view(t, meta_view)
    local v = {}
    setmetatable_(v, {__index = t, __newindex = readonly})
    real_of[v] = t
    meta_of[v] = meta_view
    return v
end

local hidden = {}
for k, v in next_, G do
    hidden[k] = v
end
for k in next_, hidden do
    rawset_(G, k, nil)
end
for _, name in pairs_({'string', 'math', 'table', 'coroutine', 'redis', 'bit', 'cjson', 'struct', 'cmsgpack'}) do
    if hidden[name] then
        hidden[name] = view(hidden[name])
    end
end
local string_meta = getmetatable_('')
string_meta.__index = hidden.string
local string_meta_view = view(string_meta)

local globals_meta = {__index = hidden, __newindex = readonly}
local hidden_meta = {
    __index = function(_, k)
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end,
}
setmetatable_(hidden, hidden_meta)
hidden._G = G
real_of[G] = hidden
meta_of[G] = view(globals_meta, false)

-- The builtins that reach past a metatable see through the views and refuse to write them.
local function check_table(v, i, fname)
    if type(v) ~= 'table' then
        local got = v == nil and 'nil' or type(v)
        error("bad argument #" .. i .. " to '" .. fname .. "' (table expected, got " .. got .. ")", 3)
    end
end
hidden.next = function(t, k)
    check_table(t, 1, 'next')
    return next_(real_of[t] or t, k)
end
local next = hidden.next
hidden.pairs = function(t)
    check_table(t, 1, 'pairs')
    if real_of[t] then
        return next, t, nil
    end
    return pairs_(t)
end
hidden.rawget = function(t, k)
    check_table(t, 1, 'rawget')
    return rawget_(real_of[t] or t, k)
end
hidden.rawset = function(t, k, v)
    check_table(t, 1, 'rawset')
    if real_of[t] then
        error('Attempt to modify a readonly table', 0)
    end
    return rawset_(t, k, v)
end
hidden.getmetatable = function(t)
    if type(t) == 'string' then
        return string_meta_view
    end
    if real_of[t] then
        return meta_of[t] or nil
    end
    return getmetatable_(t)
end
hidden.setmetatable = function(t, m)
    check_table(t, 1, 'setmetatable')
    if m ~= nil and type(m) ~= 'table' then
        error("bad argument #2 to 'setmetatable' (nil or table expected)", 2)
    end
    if real_of[t] then
        error('Attempt to modify a readonly table', 0)
    end
    return setmetatable_(t, m)
end
setmetatable_(G, globals_meta)

local xpcall, handler = xpcall, hidden.__redis__err__handler
hidden.xpcall = function(f, h)
    return xpcall(f, function(e)
        return h(caught(e))
    end)
end
local function run(f)
    local ok, r = xpcall(f, handler)
    return ok, r
end

return hidden, run, redis
