-- Password sign-ins as new browsers make them: GET /authorize without a cookie answers the
-- sign-in form and a browser cookie; POST /login with that form's csrf and request fields
-- and that cookie signs in (one argon2id check). Forms are single use, so every sign-in
-- needs its own GET first: half the requests are form loads, half are sign-ins, and the
-- row's rate counts both (sign-ins per second are half of it). The sign-ins rotate over
-- LOGIN_USERS people (login-0, login-1, ...): concurrent attempts at one username count
-- against its failure limit until one succeeds, as they should against a guesser.
dofile(os.getenv("BENCH_LUA") .. "/tally.lua")
function init(args)
  forms = {}
  query = os.getenv("AUTH_QUERY")
  password = os.getenv("LOGIN_PASSWORD")
  users = tonumber(os.getenv("LOGIN_USERS"))
  next_user = id
  step = tonumber(os.getenv("WRK_THREADS"))
  origin = os.getenv("ISSUER")
end
function request()
  local f = table.remove(forms)
  if f then
    next_user = next_user + step
    return wrk.format("POST", "/login", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Origin"] = origin,
      ["Cookie"] = "mcp_authd_browser=" .. f.browser,
    }, "csrf=" .. f.csrf .. "&request=" .. f.request .. "&username=login-" ..
      (next_user % users) .. "&password=" .. password)
  end
  return wrk.format("GET", "/authorize?" .. query, { ["User-Agent"] = "bench" })
end
function response(status, headers, body)
  if status == 303 then return end  -- signed in, on to consent
  if status ~= 200 then
    unexpected_answer(status)
    return
  end
  local cookie = headers["set-cookie"] or headers["Set-Cookie"] or ""
  local browser = cookie:match("mcp_authd_browser=([^;]+)")
  local csrf = body:match('name="csrf" value="([^"]*)"')
  local req = body:match('name="request" value="([^"]*)"')
  if browser and csrf and req then
    table.insert(forms, { browser = browser, csrf = csrf, request = req })
  end
end
