-- Shared by the flow scripts (dofile'd by each): counts answers a flow did not expect, summed
-- over threads and printed at the end as "Unexpected responses: N" (wrk's own non-2xx count
-- would include the redirects the flows expect), with how many were 4xx and 5xx. Each
-- thread's script calls unexpected_answer(status); a script may define finish(threads) to
-- read more from its threads at the end.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
unexpected, unexpected_4xx, unexpected_5xx = 0, 0, 0
function unexpected_answer(status)
  unexpected = unexpected + 1
  if status >= 500 then
    unexpected_5xx = unexpected_5xx + 1
  elseif status >= 400 then
    unexpected_4xx = unexpected_4xx + 1
  end
end
function done(summary, latency, requests)
  local n, c4, c5 = 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + (t:get("unexpected") or 0)
    c4 = c4 + (t:get("unexpected_4xx") or 0)
    c5 = c5 + (t:get("unexpected_5xx") or 0)
  end
  io.write(string.format("Unexpected responses: %d (4xx: %d, 5xx: %d)\n", n, c4, c5))
  if finish then finish(threads) end
end
