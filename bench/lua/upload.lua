-- POST a body of N bytes on every request. Arguments: <bytes>
function init(args)
  wrk.method = "POST"
  wrk.body = string.rep("x", tonumber(args[1]))
  wrk.headers["Content-Type"] = "application/octet-stream"
end
