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

if unique or #auths > 0 then
    local counter = 0
    local prefix
    local headers = {}

    function init(args)
        prefix = "bench-" .. tag .. "-" .. tostring(thread_id or 0) .. "-"
        for name, value in pairs(wrk.headers) do
            headers[name] = value
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
        return wrk.format(nil, path, headers, nil)
    end
end
