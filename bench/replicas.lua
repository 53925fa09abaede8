-- wrk script: one thread per replica, the ports in $REPLICA_PORTS ("p1,p2,p3"), so one load
-- generator spreads one token's requests over every replica.
local ports = {}
for p in string.gmatch(os.getenv("REPLICA_PORTS"), "[^,]+") do
  ports[#ports + 1] = p
end
local n = 0
function setup(thread)
  n = n + 1
  thread.addr = wrk.lookup("127.0.0.1", ports[((n - 1) % #ports) + 1])[1]
end
