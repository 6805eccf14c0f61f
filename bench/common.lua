-- Shared by the wrk scripts: prints one BENCH line of figures at the end. With CHECK=1,
-- also counts responses that are not 200, lack `expected`, or carry GraphQL errors
-- (reading every body costs wrk about a fifth of its throughput on this 2-core machine,
-- so the figures come from runs without it). wrk runs `response` in each thread's Lua
-- state and `done` in another, so the counts are read back from the threads.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function checked_by(expected)
  if os.getenv("CHECK") == "1" then
    response = function(status, headers, body)
      if status ~= 200 or not string.find(body, expected, 1, true) or string.find(body, "\"errors\"", 1, true) then
        bad = bad + 1
      end
    end
  end
  done = function(summary, latency, requests)
    local total_bad = 0
    for _, t in ipairs(threads) do
      total_bad = total_bad + (t:get("bad") or 0)
    end
    io.write(string.format("BENCH rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx_or_bad_bodies=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.requests, summary.errors.status + total_bad))
  end
end
