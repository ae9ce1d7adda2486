-- A paced load: each connection waits PACE_MS (default 4) between requests, so the rate is
-- fixed (connections * 1000 / PACE_MS per second) instead of "as fast as the server answers".
-- Used to measure /api/v1/verify latency the way nginx's auth_request calls it: at the rate
-- pages are loaded, while something else (a sign-in flood) keeps the CPUs busy.
local pace_ms = tonumber(os.getenv("PACE_MS") or "4")

function delay()
  return pace_ms
end
