-- Refresh rotation: each thread keeps a pool of live refresh tokens (RT_FILE, split across
-- threads); every response's new refresh token goes back into the pool.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
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
  local rt = table.remove(pool, 1)
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. rt)
end
function response(status, headers, body)
  local rt = body:match('"refresh_token":"([^"]+)"')
  if rt then table.insert(pool, rt) end
end
