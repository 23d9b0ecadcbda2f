"""HTTP in and out: routers, dependencies and the one error-rendering module."""
