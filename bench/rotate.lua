-- wrk script: rotate through the tokens in $TOKENS_FILE, one per request.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
  tokens[#tokens + 1] = line
end
local i = math.random(#tokens)
request = function()
  i = i + 1
  local t = tokens[(i % #tokens) + 1]
  return wrk.format("GET", "/rest/api/2/issue/ABC-1", { ["Authorization"] = "Bearer " .. t })
end
