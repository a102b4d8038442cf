function test_busy() local x = 0 while true do x = x + 1 end end
function test_next() end
