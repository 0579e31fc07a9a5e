-- Authorization-code flow with a remembered consent: GET /authorize (session cookie) answers
-- 302 with a code; the next request on the thread exchanges it at POST /token (PKCE).
-- Half the requests are authorizations, half are code exchanges.
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
  if loc then
    local c = loc:match("[?&]code=([^&]+)")
    if c then table.insert(codes, c) end
  end
end
