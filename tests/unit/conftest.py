"""The unit tier: pure logic, no embedded AWS, no servers (`make unit`)."""
