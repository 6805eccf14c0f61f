-- Shared by the wrk scripts: counts responses that are not 200 or lack `expected`, and
-- prints one BENCH line of figures at the end.
function checked_by(expected)
  local bad = 0
  response = function(status, headers, body)
    if status ~= 200 or not string.find(body, expected, 1, true) or string.find(body, "\"errors\"", 1, true) then
      bad = bad + 1
    end
  end
  done = function(summary, latency, requests)
    io.write(string.format("BENCH rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx_or_bad_bodies=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.requests, summary.errors.status + bad))
  end
end
