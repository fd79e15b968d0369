-- A different token on every request: cycles through a file of pre-minted tokens.
-- Arguments: <token file> <start index> <path> [<stop after N responses>]
-- Prints "tokens_next=<i> tokens_wrapped=<0|1>" at the end so the driver can continue the
-- next run where this one stopped (and know whether any token was sent twice).
local tokens = {}
tokens_next = 0
tokens_wrapped = 0
local target = "/"
local stop_after = nil
local answered = 0

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  tokens_next = tonumber(args[2]) or 0
  target = args[3] or "/"
  stop_after = tonumber(args[4])
  if stop_after then
    response = function()
      answered = answered + 1
      if answered >= stop_after then
        wrk.thread:stop()
      end
    end
  end
end

function request()
  if tokens_next >= #tokens then
    tokens_next = 0
    tokens_wrapped = 1
  end
  tokens_next = tokens_next + 1
  return wrk.format("GET", target, { Authorization = tokens[tokens_next] })
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("tokens_next=%d tokens_wrapped=%d\n",
      thread:get("tokens_next"), thread:get("tokens_wrapped")))
  end
end
