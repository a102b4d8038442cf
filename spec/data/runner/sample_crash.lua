-- A worker process that dies in the middle of a test (with -j): the test
-- fails, the tests after it run in a new worker.
function test_before() end

function test_exit()
  io.stdout:write("about to exit\n")
  os.exit(3)
end

function test_between() end

function test_killed()
  local pid = assert(io.open("/proc/self/stat")):read("*n")
  os.execute("kill -SEGV " .. pid)
  require("luatest").sleep(5)
end

function test_after() end
