-- Shared by the wrk scripts: prints one BENCH line of figures at the end. With CHECK=1,
-- also counts responses that are not 200 or lack `expected` (reading every body costs
-- wrk about a fifth of its throughput on this 2-core machine, so the figures come from
-- a run without it).
function checked_by(expected)
  local bad = 0
  if os.getenv("CHECK") == "1" then
    response = function(status, headers, body)
      if status ~= 200 or not string.find(body, expected, 1, true) or string.find(body, "\"errors\"", 1, true) then
        bad = bad + 1
      end
    end
  end
  done = function(summary, latency, requests)
    io.write(string.format("BENCH rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx_or_bad_bodies=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.requests, summary.errors.status + bad))
  end
end
