function test_a() end
function test_b( end
