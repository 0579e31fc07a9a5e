-- Shared by the flow scripts (dofile'd by each): counts answers a flow did not expect, summed
-- over threads and printed at the end as "Unexpected responses: N" (wrk's own non-2xx count
-- would include the redirects the flows expect). Each thread's script sets `unexpected`; a
-- script may define finish(threads) to read more from its threads at the end.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("unexpected") or 0) end
  io.write(string.format("Unexpected responses: %d\n", n))
  if finish then finish(threads) end
end
