-- wrk script: ihuyi Submit as a form POST, a different mobile number for every request so that no
-- frequency limit trips. ACCOUNT and APIKEY come from the environment.
local account = os.getenv("BENCH_ACCOUNT")
local apikey = os.getenv("BENCH_APIKEY")
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  counter = thread_id * 10000000
end

local content = "%E3%80%90%E9%B8%BF%E9%9B%81%E3%80%91%E6%82%A8%E7%9A%84%E9%AA%8C%E8%AF%81%E7%A0%81%E6%98%AF%EF%BC%9A1234%E3%80%82%E8%AF%B7%E4%B8%8D%E8%A6%81%E6%8A%8A%E9%AA%8C%E8%AF%81%E7%A0%81%E6%B3%84%E9%9C%B2%E7%BB%99%E5%85%B6%E4%BB%96%E4%BA%BA%E3%80%82"

function request()
  counter = counter + 1
  local mobile = string.format("139%08d", counter % 100000000)
  local body = "account=" .. account .. "&password=" .. apikey .. "&mobile=" .. mobile .. "&content=" .. content
  return wrk.format("POST", "/webservice/sms.php?method=Submit",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("BENCH_LAT p50=%.3f p99=%.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
