"""Workspace: configuration, the ledger, and one client per API; the embedded sandbox when no key is set."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from .client import registry
from .client.ledger import Ledger
from .client.model import ConfigurationError, Status, UnknownBatch
from .client.registry import ProviderInfo, flaw as _flaw
from .client.transport import ProviderConfig, Transport
from .discover import find_workspace

if TYPE_CHECKING:
    import pandas as pd

    from .client.batch import Batch, ProviderClient
    from .client.providers.animaldetect import AnimalDetectClient
    from .client.providers.authenta_client import AuthentaClient
    from .client.providers.claid import ClaidClient
    from .client.providers.faces import FacesClient
    from .client.providers.sateais import SateAIsClient

    from .sandbox import Sandbox

DEFAULT_SANDBOX_TIME_SCALE = 0.01


def service_variables() -> list[str]:
    """Every environment variable that points the toolkit at a real service (keys, base URLs, extras such as
    the face service's FR_ORG_ID/FR_COLLECTION_ID/FR_JWT), from the provider registry."""
    infos = registry.providers()
    return [v for i in infos for v in (i.key_var, i.url_var)] + [v for i in infos for v in i.extra_vars]


def __getattr__(name: str) -> Any:
    """Tables of earlier versions, now derived from ``toolkit.client.registry`` on each access:
    ``ENV`` (provider -> key variable, base-URL variable, production base URL), ``LIMITS`` (client-side
    limits), ``CLIENTS`` (provider -> client module and class)."""
    if name == "ENV":
        return {i.name: (i.key_var, i.url_var, i.base_url) for i in registry.providers()}
    if name == "LIMITS":
        return {i.name: i.limits() for i in registry.providers()}
    if name == "CLIENTS":
        return {i.name: (i.client.__module__, i.client.__qualname__) for i in registry.providers()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_sandboxes: dict[Path, "Sandbox"] = {}


class Workspace:
    """Where a project's jobs live: ``Workspace(".toolkit")`` holds the ledger, the result cache and the sandbox.

    The folder defaults to ``$TOOLKIT_WORKSPACE``, else the project's ``.toolkit`` found in the working folder or
    a parent (up to the repository's root, as git finds ``.git``: the notebooks and the repository's root share
    one ledger), else a new ``.toolkit`` in the working folder (``toolkit.discover.find_workspace``).

    Keys and base URLs come from arguments or the environment (``AD_API_KEY``/``AD_API_BASE_URL``, ...).
    Providers with no key run against the embedded sandbox, which the workspace starts (on first use) and
    announces once: the workspace's background sandbox when one is alive (``toolkit`` commands start it, see
    ``toolkit.sandbox.background``; ``background_sandbox=True`` starts it here too), else one in this process. They are checked before anything is created or sent: a base URL must be http(s) with a
    host, a key has no whitespace, and a variable that is set but empty is an error, never "no key".
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        keys: dict[str, str] | None = None,
        base_urls: dict[str, str] | None = None,
        sandbox_time_scale: float | None = None,
        sandbox: "Sandbox | None" = None,
        quiet: bool = False,
        background_sandbox: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else find_workspace()
        keys = {p: k for p, k in (keys or {}).items() if k is not None}
        base_urls = {p: u for p, u in (base_urls or {}).items() if u is not None}
        self._configs: dict[str, ProviderConfig] = {}
        self._providers: dict[str, ProviderInfo] = {i.name: i for i in registry.providers()}  # as registered now
        sandboxed: list[str] = []
        self._unkeyed: list[str] = []  # no key, and no sandbox speaks their contract
        for provider, info in self._providers.items():
            if provider in base_urls:
                _check_url(base_urls[provider], f"base_urls[{provider!r}]")
            key = _key(provider, info.key_var, keys)
            if key is None:
                (sandboxed if info.sandbox else self._unkeyed).append(provider)
                continue
            url, source = _live_url(provider, info.key_var, info.url_var, info.base_url, base_urls)
            # TOOLKIT_TIME_SCALE: for keys on a separately run sandbox (`toolkit sandbox --time-scale F`)
            scale = float(os.environ.get("TOOLKIT_TIME_SCALE", "1"))
            self._configs[provider] = ProviderConfig(
                provider, url, key, time_scale=scale, url_var=source, **info.limits(), **info.auth_extras()
            )
        _misnamed_keys([self._providers[p] for p in sandboxed + self._unkeyed])
        self.ledger = Ledger(self.path)
        self.sandbox: Sandbox | None = sandbox
        self._sandboxed = sandboxed
        # a base URL given for a keyless provider points into the sandbox (same origin as the sandbox's)
        self._sandbox_urls = {p: base_urls[p] for p in sandboxed if p in base_urls}
        self._sandbox_scale = sandbox_time_scale
        self._quiet = quiet
        self._background = background_sandbox
        self._clients: dict[str, ProviderClient] = {}

    def _config(self, provider: str) -> ProviderConfig:
        """The provider's configuration; the embedded sandbox is started the first time one needs it."""
        if provider in self._unkeyed:
            info = self._providers[provider]
            raise ConfigurationError(
                f"no key for {provider}: set {info.key_var} (or keys={{'{provider}': ...}}); "
                "the embedded sandbox does not speak its contract"
            )
        if provider not in self._configs:
            if self.sandbox is not None and self.sandbox.port is not None:
                scale = self.sandbox.config.time_scale
            else:
                scale = (
                    self._sandbox_scale
                    if self._sandbox_scale is not None
                    else float(os.environ.get("TOOLKIT_SANDBOX_TIME_SCALE", DEFAULT_SANDBOX_TIME_SCALE))
                )
                self.sandbox = _start_sandbox(self.path / "sandbox", scale, self._background)
                scale = self.sandbox.config.time_scale  # a background sandbox runs at the scale it started with
                if not self._quiet:  # once per workspace: info-styled in Jupyter, a WARNING line elsewhere
                    from .widgets.notice import notice

                    notice(
                        f"no API key for {', '.join(self._sandboxed)}; using the embedded sandbox at "
                        f"{self.sandbox.url} (simulated results, time scale {scale:g}).",
                        once=f"sandbox:{self.path.resolve()}",
                        level=logging.WARNING,
                    )
            for name in self._sandboxed:
                url = self._sandbox_urls.get(name)  # e.g. the sandbox's /claid/v1-beta1 instead of /v1
                source = f"base_urls[{name!r}], embedded sandbox" if url else "embedded sandbox"
                self._configs[name] = ProviderConfig(
                    name,
                    url or self.sandbox.base_url(name),
                    self.sandbox.key(name),
                    sandbox=True,
                    time_scale=scale,
                    url_var=source,
                    **self._providers[name].limits(),
                    **self._providers[name].auth_extras(self.sandbox),
                )
        return self._configs[provider]

    def client(self, provider: str) -> "ProviderClient":
        """The client of one provider by name (``ws.client("sateais")`` is ``ws.sateais``)."""
        if provider not in self._providers:
            later = " (registered after this Workspace was made: make a new one)"
            later = later if provider in registry.names() else ""
            raise ConfigurationError(f"unknown provider {provider!r}{later}; known: {', '.join(self._providers)}")
        if provider not in self._clients:
            client_class = self._providers[provider].client
            # the registry types the class structurally (it cannot import toolkit.client.batch); it is one
            client = cast("ProviderClient", client_class(self.ledger, Transport(self._config(provider))))
            self._clients[provider] = client
        return self._clients[provider]

    @property
    def animaldetect(self) -> "AnimalDetectClient":
        """Animal Detect: camera-trap images -> animal detections."""
        return cast("AnimalDetectClient", self.client("animaldetect"))

    @property
    def sateais(self) -> "SateAIsClient":
        """SateAIs: Sentinel-1 AOI and date -> ships, oil slicks, buildings, time series (GeoJSON)."""
        return cast("SateAIsClient", self.client("sateais"))

    @property
    def authenta(self) -> "AuthentaClient":
        """Authenta: media -> deepfake / forgery / liveness / embedding verdicts (11 task types)."""
        return cast("AuthentaClient", self.client("authenta"))

    @property
    def claid(self) -> "ClaidClient":
        """Claid: image -> edited image."""
        return cast("ClaidClient", self.client("claid"))

    @property
    def faces(self) -> "FacesClient":
        """Face enrollment: roster of faces -> enrolled face ids, in batch jobs of at most 100."""
        return cast("FacesClient", self.client("faces"))

    def __dir__(self) -> list[str]:
        """Tab shows the providers and the workspace's calls, not its internals."""
        from .client.surface import public_dir

        return public_dir(self)

    def __repr__(self) -> str:
        return f"<Workspace {str(self.path.absolute())!r} {self._modes()}>"  # where it is, wherever it was found

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<li>{html.escape(p)}: {m}</li>" for p, m in self._modes().items())
        return (
            f"<b>Workspace</b> <code>{html.escape(str(self.path.absolute()))}</code><ul>{rows}</ul>"
            "Submit from a form: <code>ws.form()</code> (choose provider and operation) or "
            '<code>ws.form("sateais", "ship")</code>; past jobs: <code>ws.explore()</code>.'
        )

    def _modes(self) -> dict[str, str]:
        return {
            p: ("sandbox" if p in self._sandboxed else "no key" if p in self._unkeyed else "live")
            for p in self._providers
        }

    def form(self, provider: str | None = None, operation: str | None = None) -> Any:
        """A form that submits ``provider``'s ``operation`` from its declaration (dropdowns choose them when not
        given); ``form.code`` is the equivalent call, ``form.batch`` the batch once submitted."""
        from .widgets.form import Form

        return Form(self, provider, operation)

    def explore(self, **filters: Any) -> Any:
        """The jobs explorer widget over the ledger (filter by provider, status, batch)."""
        from .widgets import explore

        return explore(self, **filters)

    def batch(self, batch_id: str) -> "Batch":
        """A recorded batch by id, re-attached from the ledger (call ``.wait()`` to drive it to the end)."""
        return self.client(self._batch_spec(batch_id)["provider"]).attach(batch_id)

    def _batch_spec(self, batch_id: str) -> dict[str, Any]:
        spec = self.ledger.batch(batch_id)
        if spec is None:
            raise UnknownBatch(f"no batch {batch_id!r} in {self.ledger.path}; see ws.batches()")
        return spec

    def batches(self) -> "pd.DataFrame":
        """Every recorded batch: id, provider, operation, creation time, number of jobs."""
        import pandas as pd

        rows = self.ledger.batches()
        df = pd.DataFrame(rows, columns=["id", "provider", "operation", "created_at"])
        df["jobs"] = [len(self._batch_spec(b)["keys"]) for b in df["id"]]
        df["created_at"] = pd.to_datetime(df["created_at"], unit="s", utc=True)
        return df

    def jobs(
        self, provider: str | None = None, status: str | Status | None = None, batch: str | None = None
    ) -> "pd.DataFrame":
        """The ledger as the jobs table of ``toolkit.load.jobs`` (one row per job), optionally filtered. For
        older code (the jobs explorer counts the statuses present): ``batch_id`` (the same as ``batch``) and
        ``status`` as plain strings; ``load.jobs(ws.jobs())`` gives the categorical again."""
        from .client.options import unknown_name
        from .load.jobs import jobs

        if status is not None and str(status) not in {s.value for s in Status}:
            raise unknown_name("status", status, [s.value for s in Status])
        if provider is not None and provider not in registry.names():
            raise unknown_name("provider", provider, registry.names())
        statuses = [Status(str(status))] if status else None
        df = jobs(self.ledger.jobs(provider=provider, statuses=statuses, batch_id=batch))
        df["batch_id"] = df["batch"]
        df["status"] = df["status"].astype(object)
        return df


def _key(provider: str, var: str, keys: dict[str, str]) -> str | None:
    """The provider's key (argument, else environment), None for the sandbox; never shown in an error."""
    if provider in keys:
        key, source = keys[provider], f"keys[{provider!r}]"
        if key == "":
            raise ConfigurationError(f"{source} is empty: leave it out to use the embedded sandbox, or give the key")
    elif var in os.environ:
        key, source = os.environ[var], var
        if key == "":
            raise ConfigurationError(f"{var} is set but empty: unset it to use the embedded sandbox, or give the key")
    else:
        return None
    flaw = _flaw(key, ascii_only=True)
    if flaw:
        where = " (read from a file with its line end?)" if flaw.endswith("newline") else ""
        raise ConfigurationError(
            f"{source} {flaw}{where}: an API key has no whitespace or control characters; strip it"
        )
    return key


_KEYISH = re.compile(r"(API)?(KEY|TOKEN|SECRET)$")


def _misnamed_keys(keyless: list[ProviderInfo]) -> None:
    """One warning per variable that looks like a keyless provider's key under another name
    (``ANIMALDETECT_API_KEY`` for ``AD_API_KEY``): without it the provider runs on the sandbox, silently."""
    from .widgets.notice import notice

    known = set(service_variables())
    for info in keyless:
        prefix = info.key_var.split("_")[0]
        for var in sorted(os.environ):
            if var in known:
                continue
            squashed = var.upper().replace("_", "").replace("-", "")
            head = squashed[: -len(m.group())] if (m := _KEYISH.search(squashed)) else None
            if head is not None and (info.name.upper() in head or var.upper().split("_")[0] == prefix):
                notice(
                    f"{var} is set, but {info.name} reads its key from {info.key_var}: rename it to use "
                    "your key (simulated results until then).",
                    once=f"misnamed:{var}",
                    level=logging.WARNING,
                )


def _live_url(provider: str, key_var: str, url_var: str, default: str, base_urls: dict[str, str]) -> tuple[str, str]:
    """The base URL of a provider with a key, and where it came from (named in later errors)."""
    if provider in base_urls:  # already checked
        return base_urls[provider], f"base_urls[{provider!r}]"
    if url_var in os.environ:
        url = os.environ[url_var]
        if url == "":
            instead = f"unset it to use the default {default}, or" if default else "set it to the service's URL, or"
            raise ConfigurationError(f"{url_var} is set but empty: {instead} give the base URL")
        return _check_url(url, url_var), url_var
    if not default:
        raise ConfigurationError(
            f"{key_var} is set but {url_var} is not: the {provider} service has no "
            f"public default base URL; set {url_var} (or base_urls={{'{provider}': ...}})"
        )
    return default, f"default; {url_var} is not set"


def _check_url(url: str, source: str) -> str:
    """``url`` if it is an http(s) URL with a host; otherwise a ConfigurationError naming ``source``."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError unless a number from 0 to 65535
    except ValueError:
        parts = None
    shown = url
    if parts is not None and parts.password:  # credentials in the URL are not for messages
        shown = url.replace(f":{parts.password}@", ":***@", 1)
    flaw = _flaw(url, ascii_only=False)
    if not url:
        reason = "it is empty"
    elif flaw:
        reason = f"it {flaw}"
    elif parts is None:
        reason = "it is not a valid URL (the port must be a number from 0 to 65535; an IPv6 host needs [ ])"
    elif parts.scheme not in ("http", "https"):
        reason = "the scheme must be http or https (e.g. https://api.example.com/v1)"
    elif not parts.hostname:
        reason = "it has no host (e.g. https://api.example.com/v1)"
    else:
        return url
    raise ConfigurationError(f"{source}={shown!r}: {reason}")


def _start_sandbox(data_dir: Path, time_scale: float, background: bool = False) -> "Sandbox":
    """The workspace's sandbox; its jobs persist in the workspace. The background one when it is alive (or,
    ``background``, started now as a detached process: it outlives this one); else one per workspace directory
    and process, in this process.

    A kernel or script starts no background process of its own (nothing outlives a notebook unasked); a
    ``toolkit`` command does, so ``submit --no-wait`` and the ``jobs wait`` after it meet the same server."""
    from .sandbox import Sandbox, SandboxConfig
    from .sandbox import background as bg

    key = data_dir.resolve()
    sb = _sandboxes.get(key)
    if sb is not None and sb.port is not None and not isinstance(sb, bg.Remote):
        return sb  # this process's own
    found = bg.find(data_dir) if bg.serves_this_process() else None
    if found is None and background and bg.serves_this_process():
        found = bg.ensure(data_dir, time_scale)
    if found is not None:
        _sandboxes[key] = found
        return found
    sb = Sandbox(SandboxConfig(port=0, data_dir=data_dir, time_scale=time_scale)).start()
    _sandboxes[key] = sb
    return sb
