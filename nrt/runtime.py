"""`nrt up`: the running parts, composed and started in order, each stopping its own children:
the state directory's lock, the embedded AWS (nrt.emulator) restored from the state store
(nrt.state), the default model, the model hosts (nrt.hosts.endpoints: started on demand,
stopped when idle), the stream worker that fills the lake (nrt.lake.worker), the local API
(nrt.apigateway), and the health line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nrt import emulator, health
from nrt.apigateway.executions import Executions
from nrt.apigateway.server import LocalApi, serve_api
from nrt.default_model import (
    DEFAULT_MODEL,
    deploy_local_endpoint,
    ensure_default_model,
)
from nrt.emulator import faults
from nrt.emulator import server as emulator_server
from nrt.emulator.faults import Faults
from nrt.emulator.server import RETRAIN_STATE_MACHINE, EmbeddedAws
from nrt.hosts.endpoints import EndpointHosts
from nrt.hosts.supervisor import IDLE_SECONDS
from nrt.lake import stream
from nrt.lake.athena import LakeQueries, LocalAthena
from nrt.lake.dashboard import CachedPage, DashboardData, dashboard_data, render_page, worst_drift
from nrt.lake.quality import MARGIN, MIN_LABELLED, QualityWatch, Tags
from nrt.lake.worker import StreamWorker, lake_dir, stream_checkpoint
from nrt.ops.alarms import AlarmRetraining
from nrt.state import restore
from nrt.state.space import DiskSpace
from nrt.state.store import GroupCommit, Store
from nrt.statedir import API_PORT, AWS_PORT, DEFAULT_STATE_DIR, StateDir, hold

# With retrain-on-alarm, each model's worst drift is measured at most this often (a query a model).
DRIFT_LOOK_SECONDS = 60.0


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
    # The template's LatencyTier parameter: POST /predictions goes to the PredictFunction.
    latency_tier: bool = False
    # The template's RetrainOnAlarm parameter: a model turning "below training" retrains it (nrt/ops/alarms.py).
    retrain_on_alarm: bool = False
    # Live model quality on the health line: below training by this margin over this many labels.
    quality_margin: float = MARGIN
    min_labelled: int = MIN_LABELLED
    log: Callable[[str], None] = print
    aws: EmbeddedAws | None = None
    api: LocalApi | None = None
    executions: Executions | None = None
    endpoint_hosts: EndpointHosts | None = None
    stream: StreamWorker | None = None
    store: Store | None = None
    committer: GroupCommit | None = None
    space: DiskSpace | None = None  # the disk under the state: full, writes are refused with 503
    _owner: TextIO | None = None  # the state directory's lock, held while running
    _stop: threading.Event = field(default_factory=threading.Event)
    _quality: QualityWatch | None = None
    _alarms: AlarmRetraining | None = None
    _drift_looked: float = float("-inf")  # when the drift alarms were last fed (time.monotonic())

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

    @property
    def models(self) -> Path:
        return StateDir(self.state_dir).models

    def start(self) -> LocalRuntime:
        self._owner = hold(StateDir(self.state_dir))
        try:
            # First: a damaged state.db stops the start before anything runs (StoreDamaged).
            self.store = Store(StateDir(self.state_dir).store)
        except Exception:
            self._owner.close()
            raise
        self.space = DiskSpace(StateDir(self.state_dir).root)
        emulator_server.ensure_port_free("127.0.0.1", self.api_port)
        self.aws = emulator_server.start(port=self.aws_port)
        self.aws.wiring.athena = LakeQueries(self.lake)  # Athena's queries (retraining, monitor) read the local lake
        if self.latency_tier:
            self.aws.ctx.parameters["LatencyTier"] = "Enabled"
        if self.retrain_on_alarm:
            self.aws.ctx.parameters["RetrainOnAlarm"] = "true"
        emulator_server.provision(self.aws)
        self._restore(self.aws, self.store)
        # After provisioning: faults hit the workflow's calls, not the stack's own set-up.
        faults.install(self.faults, self.aws.wiring)
        directory = ensure_default_model(self.state_dir, self.log)
        # Before the hosts are wired: the stack's own model (just trained here) is InService at
        # once, and its host starts with the first reading, as every restored endpoint's does.
        deploy_local_endpoint(self.aws, DEFAULT_MODEL, directory)
        unpack_to = self.state_dir / "endpoints"
        self.endpoint_hosts = EndpointHosts(self.aws, unpack_to, self.model_idle_seconds, self.log).wire()
        refs = self.aws.ctx.refs
        self.stream = StreamWorker(
            refs["PredictionsTable"], self.state_dir, self.flush_seconds, self.log, refs["OutcomesTable"]
        ).start()
        self.executions = Executions(self.aws, store=self.store, committer=self.committer, space=self.space)
        resumed = self.executions.resume()
        if resumed:
            self.log(f"running {resumed} events accepted before the last stop")
        self.api = serve_api(
            self.executions,
            port=self.api_port,
            api_key=self.api_key,
            pages={"/dashboard": CachedPage(lambda: render_page(self._dashboard()))},
            status=self.status,
            disk_full=self.space.full,
        )
        self.api_port = self.api.server_address[1]
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
        self.committer.space = self.space  # a commit that fails for space refuses writes at the door
        restore.keep_endpoints(aws, store)
        restore.keep_objects(aws, store)

    def _serving_quality(self) -> Tags:
        """Each model's training value as its endpoint's tags hold it (the serving model's)."""
        from nrt.ops.deploy import serving_quality_of

        assert self.aws is not None
        return serving_quality_of(self.aws.client("sagemaker"), self.aws.prefix)

    def _alarm_rule(self) -> AlarmRetraining:
        """The template's retrain-on-alarm rule, fed by the quality verdicts (nrt/ops/alarms.py)."""
        assert self.aws is not None
        if self._alarms is None:
            retrain = self.aws.ctx.refs[RETRAIN_STATE_MACHINE]
            self._alarms = AlarmRetraining(self.aws.client("stepfunctions"), retrain, self.aws.ctx, log=self.log)
        return self._alarms

    def _dashboard(self) -> DashboardData:
        return dashboard_data(self.lake, models=self.models, tagged=self._serving_quality())

    def status(self) -> dict[str, Any]:
        """The health figures: the API's recent answers, the failure store, the lake's lag, faults."""
        assert self.aws is not None and self.executions is not None
        out = self.executions.health.window()
        table = self.aws.client("dynamodb").describe_table(TableName=self.aws.ctx.refs["FailuresTable"])
        out["failure_store"] = int(table["Table"]["ItemCount"])
        out.update(health.lake_lag(stream.status_path(stream_checkpoint(self.state_dir))))
        out["models_down"] = self.endpoint_hosts.down() if self.endpoint_hosts is not None else {}
        if self.space is not None:
            out["disk"] = self.space.describe()
            alive = self.stream is not None and self.stream.alive
            out["stream"] = health.stream_on_full_disk(out["stream"], bool(out["disk"]["full"]), alive)
        if self.committer is not None and self.committer.broken is not None:
            out["store_error"] = self.committer.broken
            out["store_waiting"] = self.committer.waiting
        if self.faults is not None:
            out["faults"] = self.faults.describe()
            out["faults_injected"] = dict(self.faults.injected)
        if self._quality is None:
            self._quality = QualityWatch(
                self.lake, self.models, self.quality_margin, self.min_labelled, tagged=self._serving_quality()
            )
        out["quality"] = self._quality.report()
        if self.retrain_on_alarm:
            self._alarm_rule().note(out["quality"])
            self._feed_drift_alarms()
        return out

    def _feed_drift_alarms(self) -> None:
        """Each model's worst drift over the last day, at most once a minute (the AWS monitor
        publishes it hourly), for the drift alarms of the retrain-on-alarm rule."""
        if time.monotonic() - self._drift_looked < DRIFT_LOOK_SECONDS or not self.models.is_dir():
            return
        self._drift_looked = time.monotonic()
        names = sorted(folder.name for folder in self.models.iterdir() if folder.is_dir())
        self._alarm_rule().note_drift(worst_drift(LocalAthena(self.lake), self.models, names))

    def _report_health(self) -> None:
        """Every health_seconds, the health line, while there is something to report."""
        quiet = False
        disk = health.DiskNews()
        while not self._stop.wait(self.health_seconds):
            try:
                now = self.status()
            except Exception as exc:  # keep reporting; say what went wrong
                self.log(f"health: {exc}")
                continue
            disk.note(now)
            idle = health.idle(now)
            if idle and quiet:
                continue
            self.log(health.line(now) + ("  (idle)" if idle else ""))
            quiet = idle

    def stop(self, finish_seconds: float = 5.0) -> None:
        """Stop in seconds whatever the backlog: accept nothing more, let the executions in
        flight end, and leave every accepted event not run yet in the journal (the next start
        runs it); then the stream worker's last flush, the model hosts, the embedded AWS."""
        self._stop.set()
        self._stop_accepting(finish_seconds)
        if self.stream is not None:
            # Its last flush: what it holds reaches the lake; what it has not read stays in the store.
            self.stream.stop()
        if self.endpoint_hosts is not None:
            self.endpoint_hosts.stop()
        self._stop_aws()
        if self._owner is not None:
            self._owner.close()  # the next `nrt up` may take the state directory
            self._owner = None

    def _stop_accepting(self, finish_seconds: float) -> None:
        """The API closes; executions in flight end; accepted events not run stay journaled."""
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
        if self.executions is None:
            return
        left = self.executions.stop(finish_seconds)
        if left:
            self.log(f"{left} accepted events are kept in {StateDir(self.state_dir).store}: they run at the next start")

    def _stop_aws(self) -> None:
        """Unplug the write-through, commit what it holds, stop the embedded AWS, close the store."""
        if self.aws is not None:
            self.wiring.table_changes = self.wiring.endpoints_changed = self.wiring.objects_changed = None
        if self.committer is not None:
            self.committer.close()
        if self.aws is not None:
            self.aws.stop()
        if self.store is not None:
            self.store.close()
