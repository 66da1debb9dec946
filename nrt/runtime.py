"""`nrt up`: the embedded AWS, a model host per prefixed endpoint in use (started on demand,
stopped when idle), the local API and the stream worker that fills the lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nrt import emulator, health
from nrt.apigateway.server import Inference, LocalApi, serve_api
from nrt.children import spawn_child
from nrt.emulator import faults
from nrt.emulator import server as emulator_server
from nrt.emulator.faults import Faults
from nrt.emulator.server import EmbeddedAws
from nrt.hosts.supervisor import IDLE_SECONDS, Hosts, ModelHostFailed
from nrt.lake import stream
from nrt.lake.dashboard import CachedPage, dashboard_data, render_page
from nrt.state import restore
from nrt.state.store import GroupCommit, Store
from nrt.statedir import API_PORT, AWS_PORT, DEFAULT_STATE_DIR, StateDir, hold
from training.inference import ARTIFACT
from training.package import unpack

DEFAULT_MODEL = "failure"
LOCAL_MODEL_IMAGE = "local/nrt-sklearn-serving:latest"


def model_dir(state_dir: Path, name: str) -> Path:
    return StateDir(state_dir).model(name)


def ensure_default_model(state_dir: Path, log: Any = print) -> Path:
    """Train the demo's `failure` model on first use."""
    directory = model_dir(state_dir, DEFAULT_MODEL)
    if not (directory / ARTIFACT).exists():
        log(f"training the default model '{DEFAULT_MODEL}' (first use) ...")
        from training.train import train  # scikit-learn: a second to import, only to train

        evaluation = train(directory)
        log(f"  trained: {evaluation.summary()} on {evaluation.test_rows} held-out readings")
    return directory


def deploy_local_endpoint(aws: EmbeddedAws, name: str, directory: Path) -> str:
    """Endpoint `<prefix><name>` in the embedded AWS serving the model folder as it is (no
    archive, no upload: the local stack's own default model, and the tests' model hosts), made
    as every deployment is (nrt.ops.deploy.publish). An endpoint already there is left alone."""
    from nrt.ops.deploy import Serverless, local_target, publish

    sm = aws.client("sagemaker")
    endpoint = f"{aws.prefix}{name}"
    existing = {e["EndpointName"] for e in sm.list_endpoints(NameContains=endpoint)["Endpoints"]}
    if endpoint in existing:
        return endpoint
    target = local_target(aws.ctx, aws.prefix)
    url = directory.resolve().as_uri()
    tags = _tags_of(name, directory)
    publish(sm, endpoint, endpoint, url, target, Serverless(), LOCAL_MODEL_IMAGE, tags, log=_quiet, wait=False)
    return endpoint


def _quiet(line: str) -> None:
    """The local stack's own deployments say nothing: `nrt up` reports the model hosts."""


def _tags_of(name: str, directory: Path) -> list[dict[str, str]]:
    """What nrt deploy-model tags an endpoint with, for a model on this machine (none without one)."""
    from nrt.ops.deploy import held_out_metric, model_tags
    from training.inference import SIGNATURE, Signature

    if not (directory / SIGNATURE).is_file():
        return []
    signature = Signature.from_dict(json.loads((directory / SIGNATURE).read_text()))
    return model_tags(name, signature, held_out_metric(directory))


def model_source(sm: Any, endpoint: str) -> tuple[str, str]:
    """(model version, ModelDataUrl) that the endpoint's current config serves."""
    config_name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variant = sm.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    return str(variant["ModelName"]), str(model["PrimaryContainer"]["ModelDataUrl"])


def materialise(aws: EmbeddedAws, url: str, target: Path) -> Path | None:
    """The model directory behind a ModelDataUrl: a local folder, or model.tar.gz in the
    embedded S3 unpacked into target (as SageMaker unpacks it into /opt/ml/model)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        directory = Path(urllib.parse.unquote(parsed.path))
        return directory if (directory / ARTIFACT).exists() else None
    if parsed.scheme != "s3":
        return None
    if (target / ARTIFACT).exists():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "model.tar.gz"
        aws.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(archive))
        return unpack(archive, target)


def stream_checkpoint(state_dir: Path) -> Path:
    return StateDir(state_dir).stream_checkpoint


class StreamWorker:
    """`python -m nrt.lake.stream` in its own process, restarted if it dies (as Firehose retries)."""

    def __init__(self, table: str, state_dir: Path, flush_seconds: float, log: Any) -> None:
        self.command = [
            sys.executable,
            "-m",
            "nrt.lake.stream",
            "--state",
            str(StateDir(state_dir).store),
            "--table",
            table,
            "--lake",
            str(lake_dir(state_dir)),
            "--checkpoint",
            str(stream_checkpoint(state_dir)),
            "--flush-seconds",
            str(flush_seconds),
        ]
        self.logs = StateDir(state_dir).logs
        self.pid_file = state_dir / "stream.pid"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    def start(self) -> StreamWorker:
        self._spawn()
        threading.Thread(target=self._supervise, name="stream-supervisor", daemon=True).start()
        return self

    def _spawn(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        # stdout is the transform's own output (powertools logs and EMF metrics), as in CloudWatch.
        with open(self.logs / "firehose_transform.log", "ab") as out, open(self.logs / "stream.log", "ab") as err:
            self.process = spawn_child(self.command, os.environ, stdout=out, stderr=err)
        self.pid_file.write_text(f"{self.process.pid}\n")

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            process = self.process
            if process is None or process.poll() is None:
                continue
            if self._stopping.is_set():
                return
            self.log(f"stream worker exited with {process.returncode}; restarting (see {self.logs / 'stream.log'})")
            time.sleep(0.5)
            self._spawn()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: the worker flushes what it holds, then exits."""
        self._stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def lake_dir(state_dir: Path) -> Path:
    return StateDir(state_dir).lake


@dataclass
class LocalRuntime:
    """Everything `nrt up` runs, on 127.0.0.1."""

    state_dir: Path = Path(DEFAULT_STATE_DIR)
    api_port: int = API_PORT
    aws_port: int = AWS_PORT
    api_key: str | None = None
    flush_seconds: float = 5.0
    faults: Faults | None = None
    # The health line's interval; 0 prints none.
    health_seconds: float = 5.0
    # A model host without an invocation for this long is stopped (0: never).
    model_idle_seconds: float = IDLE_SECONDS
    log: Any = print
    aws: EmbeddedAws | None = None
    api: LocalApi | None = None
    inference: Inference | None = None
    hosts: Hosts | None = None
    stream: StreamWorker | None = None
    store: Store | None = None
    committer: GroupCommit | None = None
    _owner: TextIO | None = None  # the state directory's lock, held while running
    _stop: threading.Event = field(default_factory=threading.Event)
    _endpoints_changed: threading.Event = field(default_factory=threading.Event)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def wiring(self) -> emulator.Wiring:
        """What this runtime plugs into its embedded AWS."""
        assert self.aws is not None
        return self.aws.wiring

    @property
    def lake(self) -> Path:
        return lake_dir(self.state_dir)

    def start(self) -> LocalRuntime:
        self._owner = hold(StateDir(self.state_dir))
        emulator_server.ensure_port_free("127.0.0.1", self.api_port)
        self.aws = emulator_server.start(port=self.aws_port)
        emulator_server.provision(self.aws)
        self.store = Store(StateDir(self.state_dir).store)
        self._restore(self.aws, self.store)
        # After provisioning: faults hit the workflow's calls, not the stack's own set-up.
        faults.install(self.faults, self.aws.wiring)
        directory = ensure_default_model(self.state_dir, self.log)
        # Before the hosts are wired: the stack's own model (just trained here) is InService at
        # once, and its host starts with the first reading, as every restored endpoint's does.
        deploy_local_endpoint(self.aws, DEFAULT_MODEL, directory)
        self._wire_hosts(self.aws.wiring)
        self.stream = StreamWorker(
            self.aws.ctx.refs["PredictionsTable"], self.state_dir, self.flush_seconds, self.log
        ).start()
        self.inference = Inference(self.aws, store=self.store, committer=self.committer)
        resumed = self.inference.resume()
        if resumed:
            self.log(f"running {resumed} events accepted before the last stop")
        self.api = serve_api(
            self.inference,
            port=self.api_port,
            api_key=self.api_key,
            pages={"/dashboard": CachedPage(lambda: render_page(dashboard_data(self.lake)))},
            status=self.status,
        )
        self.api_port = self.api.server_address[1]
        threading.Thread(target=self._supervise_hosts, name="host-supervisor", daemon=True).start()
        if self.health_seconds > 0:
            threading.Thread(target=self._report_health, name="health", daemon=True).start()
        return self

    def _restore(self, aws: EmbeddedAws, store: Store) -> None:
        """The tables, S3 objects and endpoints as the last run left them; then keep every change."""
        tables = restore.restore_tables(aws, store)
        objects = restore.restore_objects(aws, store)
        saved = store.endpoints()
        endpoints = restore.restore_endpoints(aws.client("sagemaker"), saved)
        for name in endpoints:  # made again with no model server wired: InService, unless it had failed
            if "failed" in saved[name]:
                emulator.sagemaker.restore_failed(aws.ctx.account, aws.ctx.region, name, saved[name]["failed"])
        if any(tables.values()) or objects or endpoints:
            counts = ", ".join(f"{n} items in {t}" for t, n in tables.items())
            self.log(f"restored from {store.path}: {counts}, {objects} S3 objects, {len(endpoints)} endpoints")
        self.committer = restore.keep_changes(aws, store)
        restore.keep_endpoints(aws, store)
        restore.keep_objects(aws, store)

    def status(self) -> dict[str, Any]:
        """The health figures: the API's recent answers, the failure store, the lake's lag, faults."""
        assert self.aws is not None and self.inference is not None
        out = self.inference.health.window()
        table = self.aws.client("dynamodb").describe_table(TableName=self.aws.ctx.refs["FailuresTable"])
        out["failure_store"] = int(table["Table"]["ItemCount"])
        out.update(health.lake_lag(stream.status_path(stream_checkpoint(self.state_dir))))
        out["models_down"] = self.hosts_down()
        if self.committer is not None and self.committer.broken is not None:
            out["store_error"] = self.committer.broken
        if self.faults is not None:
            out["faults"] = self.faults.describe()
            out["faults_injected"] = dict(self.faults.injected)
        return out

    def _report_health(self) -> None:
        """Every health_seconds, the health line, while there is something to report."""
        quiet = False
        while not self._stop.wait(self.health_seconds):
            try:
                now = self.status()
            except Exception as exc:  # keep reporting; say what went wrong
                self.log(f"health: {exc}")
                continue
            idle = now["readings_per_s"] == 0 and not now.get("lake_lag_s") and now.get("stream") == "ok"
            if idle and quiet:
                continue
            self.log(health.line(now) + ("  (idle)" if idle else ""))
            quiet = idle

    def _wire_hosts(self, wiring: emulator.Wiring) -> None:
        """After the endpoints are restored (they stay InService, no host started): every new
        endpoint or config is loaded in a host before it is InService, an invocation with no
        host cold-starts one, and an endpoint change wakes the supervisor at once."""
        self.hosts = Hosts(
            route=wiring.model_hosts.route,
            withdraw=wiring.model_hosts.withdraw,
            idle_for=wiring.model_hosts.idle_for,
            idle_seconds=self.model_idle_seconds,
            log=self.log,
        )
        wiring.host_start = self._start_host
        save = wiring.endpoints_changed

        def changed() -> None:
            if save is not None:
                save()
            self._endpoints_changed.set()

        wiring.endpoints_changed = changed

    def _start_host(self, endpoint: str, version: str, url: str) -> str:
        """wiring.host_start: the URL of a host serving the endpoint's model `version`."""
        assert self.aws is not None and self.hosts is not None
        aws = self.aws

        def directory() -> Path:
            found = materialise(aws, url, self.state_dir / "endpoints" / version)
            if found is None:
                raise ModelHostFailed(f"no model artifact at {url} on this machine")
            return found

        return self.hosts.ensure(endpoint, version, directory)

    def _supervise_hosts(self) -> None:
        """Every second (at once after an endpoint change): stop the hosts of endpoints gone,
        and those that exited, fail their health checks or sat idle too long."""
        while not self._stop.is_set():
            changed = self._endpoints_changed.wait(1.0)
            if self._stop.is_set() or self.hosts is None or self.aws is None:
                return
            try:
                if changed:
                    self._endpoints_changed.clear()
                    sm = self.aws.client("sagemaker")
                    pages = sm.get_paginator("list_endpoints").paginate(NameContains=self.aws.prefix)
                    self.hosts.keep({e["EndpointName"] for page in pages for e in page["Endpoints"]})
                self.hosts.check()
            except Exception as exc:  # keep supervising; say what went wrong
                self.log(f"host supervisor: {exc}")

    def hosts_down(self) -> dict[str, str]:
        """Endpoints whose host went out of service, with why, until the next invocation starts it."""
        return dict(self.hosts.down) if self.hosts is not None else {}

    def stop(self, finish_seconds: float = 5.0) -> None:
        """Stop in seconds whatever the backlog: accept nothing more, let the executions in
        flight end, and leave every accepted event not run yet in the journal (the next start
        runs it); then the stream worker's last flush, the model hosts, the embedded AWS."""
        self._stop.set()
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
        if self.inference is not None:
            left = self.inference.stop(finish_seconds)
            if left:
                self.log(
                    f"{left} accepted events are kept in {StateDir(self.state_dir).store}: they run at the next start"
                )
        if self.stream is not None:
            # Its last flush: what it holds reaches the lake; what it has not read stays in the store.
            self.stream.stop()
        if self.aws is not None:
            self.wiring.host_start = None  # no host starts from here on
        if self.hosts is not None:
            self.hosts.stop_all()
        if self.aws is not None:
            self.wiring.table_changes = self.wiring.endpoints_changed = self.wiring.objects_changed = None
        if self.committer is not None:
            self.committer.close()
        if self.aws is not None:
            self.aws.stop()
        if self.store is not None:
            self.store.close()
        if self._owner is not None:
            self._owner.close()  # the next `nrt up` may take the state directory
            self._owner = None
