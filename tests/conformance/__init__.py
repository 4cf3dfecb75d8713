"""Conformance: the vendors' official Python clients (sateais 0.2.0, authentasdk 0.2.9) against the sandbox.

Each suite drives the SDK's documented flows over real HTTP. Where the seed contract is silent the sandbox
follows the SDK; where the SDK drifted from the seeds, the seeds win and the SDK's case is a known-drift test
(docs/contracts.md, "Conformance with the vendors' SDKs").
"""
