"""The gateway (issue 11, being built): one address for clients, per-tenant limits, and
resilient calls toward the backends. So far: the limiters (`limits/`)."""
