"""The e2e tier: `nrt up` in its own process, real clients against it (`make e2e`)."""
