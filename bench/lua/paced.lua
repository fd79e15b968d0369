-- Open-loop-ish pacing for wrk (Debian has no wrk2): each connection waits an exponentially
-- distributed delay (mean given in ms) before its next request, so arrivals are Poisson-like
-- and the total rate is about connections / mean delay.
-- Arguments: <mean delay ms>
local mean_ms = 10

function init(args)
  mean_ms = tonumber(args[1]) or mean_ms
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function delay()
  return math.floor(-mean_ms * math.log(1 - math.random()) + 0.5)
end
