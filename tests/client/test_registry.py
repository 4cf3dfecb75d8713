"""The provider registry: one ProviderInfo per provider, read by the workspace, the CLI, the loaders and plots;
a provider registered from outside the package (here, a fake sixth one) shows up everywhere."""

from __future__ import annotations

import argparse
from typing import Iterator

import pytest

from toolkit import load, plot
from toolkit.cli import build_parser
from toolkit.client import registry
from toolkit.client.batch import Batch, ProviderClient
from toolkit.client.model import ConfigurationError
from toolkit.client.providers.animaldetect import DetectBatch
from toolkit.client.providers.authenta_client import ScreenBatch, VerdictBatch
from toolkit.client.providers.base import Adapter
from toolkit.client.providers.claid import EditBatch
from toolkit.client.providers.sateais import SceneBatch
from toolkit.client.registry import ProviderInfo
from toolkit.workspace import Workspace, service_variables

VARIABLES = {
    "animaldetect": ("AD_API_KEY", "AD_API_BASE_URL", "https://api.animaldetect.com/v1"),
    "sateais": ("SATEAIS_API_KEY", "SATEAIS_BASE_URL", "https://api.spcsft.com/api/v1"),
    "authenta": ("AUTHENTA_API_KEY", "AUTHENTA_BASE_URL", "https://platform.authenta.ai/api/v1"),
    "claid": ("CLAID_API_KEY", "CLAID_BASE_URL", "https://api.claid.ai/v1"),
    "faces": ("FR_API_KEY", "FR_BASE_URL", ""),
}


class FakeAdapter(Adapter):
    name = "fake"


class FakeClient(ProviderClient):
    """A trivial sixth provider: nothing is ever sent."""

    adapter_class = FakeAdapter

    def count(self, inputs: object, force: bool = False) -> Batch:
        raise NotImplementedError


def rows(source: object) -> list[str]:
    return ["fake rows"]


FAKE = ProviderInfo(
    name="fake",
    key_var="FAKE_API_KEY",
    url_var="FAKE_BASE_URL",
    base_url="https://fake.invalid/v1",
    client=FakeClient,
    rate_limits=((5, 1.0),),
    extra_vars=("FAKE_TENANT",),
    loader=rows,
    plots=("timeline",),
    operations=("count",),
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderInfo]:
    for var in [*service_variables(), "FAKE_API_KEY", "FAKE_BASE_URL", "TOOLKIT_TIME_SCALE"]:
        monkeypatch.delenv(var, raising=False)
    registry.register(FAKE)
    try:
        yield FAKE
    finally:
        registry.unregister("fake")


def provider_choices(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(next(a for a in sub.choices["submit"]._actions if a.dest == "provider").choices)


def test_the_five_builtin_providers_and_their_variables():
    assert registry.names()[:5] == list(VARIABLES)
    for name, (key_var, url_var, base_url) in VARIABLES.items():
        info = registry.get(name)
        assert (info.name, info.key_var, info.url_var, info.base_url) == (name, key_var, url_var, base_url)
        assert info.sandbox and info.operations and info.loader and info.plots
        assert info.batch_class() is info.client.batch_class
    assert registry.get("faces").extra_vars == ("FR_ORG_ID", "FR_COLLECTION_ID", "FR_JWT")
    assert registry.get("sateais").limits() == {"rate_limits": [(10, 1.0)], "max_active_jobs": 5}
    assert service_variables() == [v for k, u, _ in VARIABLES.values() for v in (k, u)] + [
        "FR_ORG_ID",
        "FR_COLLECTION_ID",
        "FR_JWT",
    ]
    with pytest.raises(KeyError, match="unknown provider 'nope'"):
        registry.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("claid"))


def test_batches_by_provider():
    assert callable(getattr(DetectBatch, "detections", None))
    assert not hasattr(SceneBatch, "detections") and not hasattr(Batch, "detections")
    assert hasattr(SceneBatch, "features") and hasattr(EditBatch, "images") and hasattr(VerdictBatch, "verdicts")
    assert issubclass(ScreenBatch, VerdictBatch)  # authenta's screen() batch has verdicts() too
    assert not any(hasattr(Batch, m) for m in ("features", "verdicts", "images"))
    assert hasattr(Batch, "results")
    assert set(plot.for_provider("animaldetect")) == {"boxes", "gallery", "counts", "score_histogram", "timeline"}
    assert plot.for_provider("claid")["before_after"] is plot.before_after


def test_a_registered_provider_is_seen_by_workspace_cli_loader_and_plots(fake, tmp_path):
    assert "fake" in registry.names() and registry.get("fake") is fake
    assert service_variables()[-6:] == [
        "FAKE_API_KEY",
        "FAKE_BASE_URL",
        "FR_ORG_ID",
        "FR_COLLECTION_ID",
        "FR_JWT",
        "FAKE_TENANT",
    ]
    assert "fake" in provider_choices(build_parser())

    ws = Workspace(tmp_path / "ws", keys={"fake": "k-123"}, quiet=True)
    client = ws.client("fake")
    assert isinstance(client, FakeClient) and ws.client("fake") is client
    config = client.transport.config
    assert (config.base_url, config.rate_limits, config.sandbox) == ("https://fake.invalid/v1", [(5, 1.0)], False)
    assert "'fake': 'live'" in repr(ws)

    batch = Batch(client, "b-fake", [], {}, [])
    assert batch.results() == ["fake rows"] == load.results(batch)
    assert set(plot.for_provider(batch)) == {"timeline"}

    keyless = Workspace(tmp_path / "ws2", quiet=True)  # no key and no sandbox for it: a clear error, not a crash
    with pytest.raises(ConfigurationError, match="FAKE_API_KEY"):
        keyless.client("fake")

    registry.unregister("fake")
    assert "fake" not in provider_choices(build_parser()) and "FAKE_API_KEY" not in service_variables()
    with pytest.raises(ConfigurationError, match="unknown provider 'fake'"):
        Workspace(tmp_path / "ws3", quiet=True).client("fake")
