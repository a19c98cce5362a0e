-- wrk script for bench/service_bench.py. Prints one JSON line at the end:
-- requests, seconds, p50/p99 latency (microseconds), non-2xx answers,
-- socket errors.
--
-- Without arguments wrk sends the URL's GET again and again (lookups).
-- With `-- FILE`, thread i sends the requests of FILE.i, each once
-- (publishes: each is signed with its own nonce, so none may be sent
-- twice): a file holds "<length>\n<raw HTTP request>" entries. The run
-- lasts wrk's -d as any other; "answered" counts the answers to these
-- requests. A thread that runs out sends GET /v1/health instead (wrk always
-- sends on a free connection) and says so ("exhausted": the run is void,
-- service_bench.py makes more requests and runs it again).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  queue = nil
  sent, answered, exhausted = 0, 0, 0
  if args[1] == nil then
    return
  end
  queue = {}
  local file = assert(io.open(args[1] .. "." .. id, "rb"))
  while true do
    local length = file:read("*l")
    if length == nil then
      break
    end
    table.insert(queue, file:read(tonumber(length)))
  end
  file:close()
  health = wrk.format("GET", "/v1/health")
end

function request()
  if queue == nil then
    return wrk.request()
  end
  -- wrk calls thread 0's request() once before the run, to check what it
  -- returns, and never sends that: a health check, so no request is lost.
  if not primed then
    primed = true
    return health
  end
  if sent < #queue then
    sent = sent + 1
    return queue[sent]
  end
  exhausted = 1
  return health
end

function response(status, headers, body)
  if queue ~= nil and not (status == 200 and string.find(body, '"status"', 1, true)) then
    answered = answered + 1  -- not an answer to /v1/health
  end
end

function done(summary, latency, requests)
  local answered_total, exhausted_total = 0, 0
  for _, thread in ipairs(threads) do
    answered_total = answered_total + (thread:get("answered") or 0)
    exhausted_total = exhausted_total + (thread:get("exhausted") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "answered": %d, "exhausted": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, answered_total, exhausted_total, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
