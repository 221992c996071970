"""Great Expectations suites and quarantine."""
