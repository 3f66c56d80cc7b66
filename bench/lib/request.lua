-- wrk script: the request's method, body and content type come from the environment, so one script serves every row.
--   WRK_METHOD (default GET), WRK_BODY_FILE, WRK_CONTENT_TYPE and WRK_HEADER (each optional)
wrk.method = os.getenv("WRK_METHOD") or "GET"

local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

local content_type = os.getenv("WRK_CONTENT_TYPE")
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end

-- WRK_HEADER (optional): one more header, "Name: value", e.g. Hornbeam's API key.
local header = os.getenv("WRK_HEADER")
if header and header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
