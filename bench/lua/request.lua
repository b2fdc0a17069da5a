-- wrk script used by bench/run for scenarios that are not a plain GET.
--
-- Everything comes from the environment, so one script serves every
-- scenario of the table in bench/run:
--   BENCH_METHOD        request method (default GET)
--   BENCH_BODY          request body (default none)
--   BENCH_CONTENT_TYPE  Content-Type of the body (default application/json)
--   BENCH_UNIQUE_HEADER when set, every request carries this header with a
--                       value never used before in this run, e.g.
--                       Idempotency-Key: bench-<tag>-<thread>-<n>
--   BENCH_TAG           makes the values unique across wrk invocations
--   BENCH_AUTHS, BENCH_PATHS
--                       when set, one Authorization value and one path per
--                       line, as many of each: request n is sent with the
--                       n-th pair, in turn (the sellers of bench/run)
--   BENCH_TOKENS_FILE   when set, a file of tokens, one a line, each sent
--                       once (Authorization: Bearer <token>): with
--                       BENCH_WRK_THREADS=T, thread i sends lines i, i+T, ...
--                       (the cold tokens of bench/run, bench/coldtokens.py)
--   BENCH_COLD_EVERY    with BENCH_TOKENS_FILE: request n carries the next
--                       token of the file when n is a multiple of it
--                       (default 1, every request), the others keep the
--                       Authorization given with -H (a cached token)
-- Headers given to wrk with -H (Authorization, ...) are kept, unless
-- BENCH_AUTHS replaces Authorization.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local ctype = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local unique = os.getenv("BENCH_UNIQUE_HEADER")
local tag = os.getenv("BENCH_TAG") or tostring(os.time())

local function lines(text)
    local found = {}
    for line in string.gmatch(text or "", "[^\n]+") do
        found[#found + 1] = line
    end
    return found
end

local auths = lines(os.getenv("BENCH_AUTHS"))
local paths = lines(os.getenv("BENCH_PATHS"))
if #auths ~= #paths then
    error("BENCH_AUTHS and BENCH_PATHS must have as many lines")
end
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
if tokens_file == "" then
    tokens_file = nil
end
local cold_every = tonumber(os.getenv("BENCH_COLD_EVERY") or "1") or 1
if unique == "" then
    unique = nil
end

wrk.method = method
if body and body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = ctype
end

local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
end

if unique or #auths > 0 or tokens_file then
    local counter = 0
    local prefix
    local headers = {}
    local cold = {}
    local cold_next = 0
    local cached_auth

    function init(args)
        prefix = "bench-" .. tag .. "-" .. tostring(thread_id or 0) .. "-"
        for name, value in pairs(wrk.headers) do
            headers[name] = value
        end
        cached_auth = headers["Authorization"]
        if tokens_file then
            -- this thread's share of the file (BENCH_WRK_THREADS: wrk -t)
            local me = (thread_id or 1) - 1
            local all = tonumber(os.getenv("BENCH_WRK_THREADS") or "1") or 1
            local n = 0
            for line in io.lines(tokens_file) do
                if n % all == me and line ~= "" then
                    cold[#cold + 1] = "Bearer " .. line
                end
                n = n + 1
            end
            if #cold == 0 then
                error("no token in " .. tokens_file)
            end
        end
    end

    -- a dynamic request: wrk calls this for every request it sends
    function request()
        counter = counter + 1
        if unique then
            headers[unique] = prefix .. counter
        end
        local path = nil
        if #auths > 0 then
            local i = counter % #auths + 1
            headers["Authorization"] = auths[i]
            path = paths[i]
        end
        if tokens_file then
            if counter % cold_every == 0 then
                -- a token never sent before (it wraps around when the
                -- file runs out: bench/run then sees cache hits and
                -- fails the run)
                cold_next = cold_next % #cold + 1
                headers["Authorization"] = cold[cold_next]
            else
                headers["Authorization"] = cached_auth
            end
        end
        return wrk.format(nil, path, headers, nil)
    end
end
