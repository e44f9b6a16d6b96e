-- wrk script for bench/boot-storm.sh: cycles the boot storm's requests, each with its phone's
-- own User-Agent.
--
--   wrk -t2 -c256 -d10s --latency -s bench/wrk-boot-storm.lua http://127.0.0.1:18080 \
--       -- requests.tsv [result.txt [close]]
--
-- requests.tsv: one `<url path>\t<User-Agent>` line per request, phone by phone in each phone's
-- fetch order (`<mac>.boot`, common file, `<mac>.cfg`), as `yealink-sim boot-storm
-- --requests-out` writes it. Every thread starts at its own offset into the list and walks it
-- round-robin. The requests are formatted once in init(), so the generator does no string
-- work per request. With result.txt, done() writes one `key value` per line (requests, errors,
-- latency percentiles in µs) for the script to read; wrk's own text goes to stdout as usual.
-- With `close`, every request says `Connection: close`: the server closes after its answer and
-- wrk opens a new connection (over HTTPS, a new TLS handshake) for the next request.

local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

local requests = {}
local n = 0
local i = 0

function init(args)
    local list = args[1]
    result_file = args[2]
    if list == nil then
        error("usage: wrk ... -s wrk-boot-storm.lua URL -- requests.tsv [result.txt [close]]")
    end
    local close = args[3] == "close"
    if args[3] ~= nil and not close then
        error("the third argument may only be `close`, not " .. args[3])
    end
    local file, err = io.open(list, "r")
    if file == nil then
        error("cannot read " .. list .. ": " .. tostring(err))
    end
    for line in file:lines() do
        local path, agent = line:match("^([^\t]+)\t(.+)$")
        if path == nil then
            error("malformed line in " .. list .. ": " .. line)
        end
        n = n + 1
        local headers = { ["User-Agent"] = agent }
        if close then
            headers["Connection"] = "close"
        end
        requests[n] = wrk.format("GET", path, headers)
    end
    file:close()
    if n == 0 then
        error(list .. " lists no requests")
    end
    -- Spread the threads over the list so they do not ask for the same files in step.
    i = (id * math.floor(n / 2)) % n
end

function request()
    i = i % n + 1
    return requests[i]
end

-- No response() function: defining one makes wrk hand every response to Lua. Answers with a
-- status of 400 or more are counted by wrk itself (summary.errors.status).

function done(summary, latency, requests)
    local out = nil
    for _, t in ipairs(threads) do
        -- The result file name reaches the threads only through their args; read it from any.
        out = out or t:get("result_file")
    end
    local e = summary.errors
    local lines = {
        "requests " .. summary.requests,
        "duration_us " .. summary.duration,
        "errors_connect " .. e.connect,
        "errors_read " .. e.read,
        "errors_write " .. e.write,
        "errors_timeout " .. e.timeout,
        "errors_status " .. e.status,
        "p50_us " .. latency:percentile(50),
        "p90_us " .. latency:percentile(90),
        "p99_us " .. latency:percentile(99),
        "max_us " .. latency.max,
    }
    local text = table.concat(lines, "\n") .. "\n"
    if out ~= nil then
        local f = io.open(out, "w")
        if f ~= nil then
            f:write(text)
            f:close()
            return
        end
    end
    io.write(text)
end
