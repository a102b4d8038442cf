-- no tests here
local x = 1
