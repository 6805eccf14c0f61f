-- The AMP query at a steady pace: each connection waits PAUSE_MS (default 40) between
-- requests, so 64 connections offer about 1,500 requests/s, a load that leaves the
-- machine room, to see whether the queries keep their throughput while people sign in.
dofile("bench/amp.lua")
local pause = tonumber(os.getenv("PAUSE_MS") or "40")
function delay()
  return pause
end
