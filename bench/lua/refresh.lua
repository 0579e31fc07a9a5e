-- Refresh rotation: each thread keeps a pool of live refresh tokens (RT_FILE, split across
-- threads); every response's new refresh token goes back into the pool, and at the end the
-- live pool is written back to RT_FILE for the next round (a rotated token sent again is a
-- replay, which revokes its family).
dofile(os.getenv("BENCH_LUA") .. "/tally.lua")
function finish(threads)
  local live = {}
  for _, t in ipairs(threads) do
    for _, rt in ipairs(t:get("pool") or {}) do table.insert(live, rt) end
  end
  if #live > 0 then
    local f = io.open(os.getenv("RT_FILE"), "w")
    f:write(table.concat(live, "\n"), "\n")
    f:close()
  end
end
function init(args)
  pool = {}
  local threads = tonumber(os.getenv("WRK_THREADS"))
  local n = 0
  for line in io.lines(os.getenv("RT_FILE")) do
    if line ~= "" and n % threads == id then table.insert(pool, line) end
    n = n + 1
  end
  client_id = os.getenv("CLIENT_ID")
end
function request()
  local rt = table.remove(pool, 1) or "pool-exhausted"
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. rt)
end
function response(status, headers, body)
  local rt = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and rt then table.insert(pool, rt) else unexpected_answer(status) end
end
