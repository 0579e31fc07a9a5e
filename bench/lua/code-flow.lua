-- Authorization-code flow with a remembered consent (a public client redirecting to https,
-- where consent may be remembered): GET /authorize with the session cookie answers
-- 302 with a code; the next request on the thread exchanges it at POST /token (PKCE).
-- Half the requests are authorizations, half are code exchanges.
dofile(os.getenv("BENCH_LUA") .. "/tally.lua")
function init(args)
  codes = {}
  client_id = os.getenv("CLIENT_ID")
  cookie = os.getenv("COOKIE")
  query = os.getenv("AUTH_QUERY")
  verifier = os.getenv("VERIFIER")
  redirect = os.getenv("REDIRECT_URI_ENC")
end
function request()
  local c = table.remove(codes)
  if c then
    return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "grant_type=authorization_code&code=" .. c .. "&code_verifier=" .. verifier ..
      "&redirect_uri=" .. redirect .. "&client_id=" .. client_id)
  end
  return wrk.format("GET", "/authorize?" .. query, { ["Cookie"] = cookie, ["User-Agent"] = "bench" })
end
function response(status, headers, body)
  local loc = headers["location"] or headers["Location"]
  local c = loc and loc:match("[?&]code=([^&]+)")
  if c then
    table.insert(codes, c)
  elseif status ~= 200 then
    unexpected_answer(status)
  end
end
