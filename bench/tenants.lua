-- wrk script of bench/tenants.sh: each request is a chat on a random project of a file of
-- "ID KEY" lines (its key as the bearer token) with a random send id among SEND_IDS, and a
-- message no intent matches, so it falls to the project's webhook.
-- Usage: wrk ... -s bench/tenants.lua http://HOST -- PROJECTS_FILE SEND_IDS
-- done() prints one line: "wrk requests seconds errors p50_ms p99_ms non2xx socket_errors".

local threads = {}

function setup(thread)
  thread:set("seed", #threads + 1)
  table.insert(threads, thread)
end

local projects = {}
local send_ids = 1

function init(args)
  for line in io.lines(args[1]) do
    local id, key = line:match("^(%S+)%s+(%S+)")
    if id then
      projects[#projects + 1] = {
        path = "/v1/projects/" .. id .. "/chat",
        headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" },
      }
    end
  end
  assert(#projects > 0, "no projects in " .. args[1])
  send_ids = tonumber(args[2]) or 1
  -- A different sequence per thread, or both threads would send the same chats.
  math.randomseed(os.time() * 1000 + seed)
end

function request()
  local project = projects[math.random(#projects)]
  local body = string.format('{"send_id":"user-%d","message":"what is the weather like"}', math.random(send_ids))
  return wrk.format("POST", project.path, project.headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk %d %.3f %d %.3f %.3f %d %d\n",
    summary.requests, summary.duration / 1e6, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
