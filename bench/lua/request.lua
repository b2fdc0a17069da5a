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
-- Headers given to wrk with -H (Authorization, ...) are kept.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local ctype = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local unique = os.getenv("BENCH_UNIQUE_HEADER")
local tag = os.getenv("BENCH_TAG") or tostring(os.time())

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

if unique and unique ~= "" then
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
        headers[unique] = prefix .. counter
        return wrk.format(nil, nil, headers, nil)
    end
end
