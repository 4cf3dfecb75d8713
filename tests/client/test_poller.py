"""The poller's runtime estimate: Kaplan-Meier quantiles with running jobs as censored observations."""

from __future__ import annotations

import numpy as np

from toolkit.client.poller import LEVELS, RuntimeModel, kaplan_meier_quantiles


def test_censoring_corrects_the_early_bias():
    rng = np.random.default_rng(0)
    runtimes = 60 * np.exp(rng.normal(0, 0.75, 4000))  # lognormal around 60 s
    now = 60.0  # a snapshot of a batch submitted at t=0: jobs shorter than `now` have finished
    finished = runtimes[runtimes <= now]
    running = np.full((runtimes > now).sum(), now)
    km = kaplan_meier_quantiles(list(finished), list(running), (0.2, 0.4))
    true = np.quantile(runtimes, (0.2, 0.4))
    naive = np.quantile(finished, (0.2, 0.4))
    assert np.allclose(km, true, rtol=0.05)
    assert (naive < 0.8 * true).all()  # what the poller would believe without censoring
    beyond = kaplan_meier_quantiles(list(finished), list(running), (0.8,))
    assert np.isnan(beyond).all()  # no job has run long enough to know the 80th percentile yet


def test_model_places_the_next_poll_at_the_next_quantile():
    running: list[float] = []
    model = RuntimeModel(lambda: running)
    assert model.next_at(0.0, 0.01) is None  # no evidence yet: the provider's policy decides
    for t in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0):
        model.observe(t)
    q = model.quantiles()
    assert q is not None and len(q) == len(LEVELS)
    assert model.next_at(0.0, 0.01) == q[0]
    assert model.next_at(float(q[1]), 0.01) == q[2]
    assert model.next_at(100.0, 0.01) is None  # past every quantile: back to the policy's backoff
