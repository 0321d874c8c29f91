"""Writes the Grafana dashboards in rqueues/observe/dashboards/ (run: python grafana/generate.py).

grafana/dashboards links there: the files ship inside the package (`rqueues dashboards`).

The JSON files are what Grafana loads (provisioning/ points at them); this script is
their source, so that every panel gets the datasource variable, a unit, a unique id
and the shared variables. tests/observability checks that the files match it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "rqueues" / "observe" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

# Label matchers each dashboard's panels share.
Q = 'job=~"$job", queue=~"$queue"'
QT = 'job=~"$job", queue=~"$queue", task=~"$task"'

BOTTLENECK_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "no backlog", "color": "green", "index": 0},
            "1": {"text": "worker-bound: add workers", "color": "orange", "index": 1},
            "2": {"text": "limit-bound: the limit is full", "color": "purple", "index": 2},
            "3": {"text": "rate-bound: the rate limit is used up", "color": "blue", "index": 3},
            "4": {"text": "paused", "color": "text", "index": 4},
        },
    }
]


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref, **extra}


def targets(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def panel(
    kind: str,
    title: str,
    description: str,
    tgts: list[dict[str, Any]],
    unit: str,
    w: int,
    h: int,
    options: dict[str, Any] | None = None,
    **defaults: Any,
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": {"unit": unit, **defaults}, "overrides": []},
        "options": options or {},
        "gridPos": {"w": w, "h": h},
    }


def timeseries(
    title: str, description: str, tgts: list[dict[str, Any]], unit: str, **kw: Any
) -> dict[str, Any]:
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    return panel(
        "timeseries", title, description, tgts, unit, kw.pop("w", 12), kw.pop("h", 8), options,
        color={"mode": "palette-classic"}, custom=custom, **kw,
    )  # fmt: skip


def stat(title: str, description: str, expr: str, unit: str = "none", **kw: Any) -> dict[str, Any]:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    thresholds = kw.pop("thresholds", [{"color": "green", "value": None}])
    return panel(
        "stat", title, description, [target(expr, title)], unit, kw.pop("w", 4), kw.pop("h", 4), options,
        color={"mode": "thresholds"}, thresholds={"mode": "absolute", "steps": thresholds}, **kw,
    )  # fmt: skip


def bottleneck(expr: str, h: int = 6) -> dict[str, Any]:
    options = {
        "mergeValues": True,
        "showValue": "auto",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel(
        "state-timeline",
        "Bottleneck",
        "Why a backlog is not shrinking. Worker-bound: jobs wait while the queue's concurrency limit "
        "has room, so more workers (or slots) matching the queue's tags help. Limit-bound: every "
        "permit of the limit is taken, so more workers only wait for permits: raise the limit or "
        "make the jobs faster.",
        [target(expr, "{{queue}}")],
        "none",
        24,
        h,
        options,
        color={"mode": "thresholds"},
        mappings=BOTTLENECK_MAPPINGS,
        thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}]},
    )


def heatmap(title: str, description: str, expr: str) -> dict[str, Any]:
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
        "yAxis": {"unit": "s", "axisPlacement": "left"},
        "rowsFrame": {"layout": "auto"},
        "legend": {"show": True},
        "tooltip": {"mode": "single", "yHistogram": True},
    }
    tgt = target(expr, "{{le}}", format="heatmap")
    return panel("heatmap", title, description, [tgt], "s", 12, 8, options)


def table(title: str, description: str, expr: str) -> dict[str, Any]:
    p = panel(
        "table", title, description, [target(expr, "", instant=True, format="table")], "none", 24, 8,
        {"showHeader": True, "cellHeight": "sm"},
    )  # fmt: skip
    p["transformations"] = [
        {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}}}
    ]
    return p


def variables(queue_multi: bool, task: bool) -> list[dict[str, Any]]:
    def query(name: str, label: str, q: str, multi: bool) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "query": q,
            "definition": q,
            "refresh": 2,
            "sort": 1,
            "multi": multi,
            "includeAll": multi,
            "allValue": ".*" if multi else None,
            "current": {"text": "All", "value": "$__all"} if multi else {},
            "options": [],
            "hide": 0,
        }

    out = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "options": [],
            "refresh": 1,
            "hide": 0,
        },
        query("job", "Prometheus job", "label_values(rqueues_build_info, job)", True),
        query("queue", "Queue", 'label_values(rqueues_queue_waiting{job=~"$job"}, queue)', queue_multi),
    ]
    if task:
        q = 'label_values(rqueues_jobs_started_total{job=~"$job", queue=~"$queue"}, task)'
        out.append(query("task", "Task", q, True))
    return out


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids in order; panels flow left to right in rows 24 units wide."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
    return panels


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], **vars_kw: Any) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["rqueues"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "title": "rqueues",
                "tags": ["rqueues"],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables(**vars_kw)},
        "panels": layout(panels),
    }


def overview() -> dict:
    red_if_zero = [{"color": "red", "value": None}, {"color": "green", "value": 1}]
    orange_if_any = [{"color": "green", "value": None}, {"color": "orange", "value": 1}]
    panels = [
        stat("Live workers", "Workers whose heartbeat is recent.", 'sum(rqueues_workers_live{job=~"$job"})',
             thresholds=red_if_zero),
        stat("Jobs waiting", "Not yet delivered to a worker.", f"sum(rqueues_queue_waiting{{{Q}}})"),
        stat("Jobs running", "Delivered to live workers.", f"sum(rqueues_queue_running{{{Q}}})"),
        stat("Stalled", "Held by dead workers until the reaper gives them back (seconds).",
             f"sum(rqueues_queue_stalled{{{Q}}})", thresholds=orange_if_any),
        stat("Completions", "Jobs that succeeded, per second, all workers.",
             f'sum(rate(rqueues_queue_finished_total{{{Q}, outcome="succeeded"}}[{RATE}]))', "ops"),
        stat("Reaper last pass", "Seconds since a reaper pass; empty if no reaper ever ran.",
             'max(rqueues_reaper_last_run_age_seconds{job=~"$job"})', "s",
             thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 60}]),
        bottleneck(f"max by (queue) (queue:rqueues_bottleneck:state{{{Q}}})"),
        timeseries("Waiting by queue", "Jobs not yet delivered (the consumer group's lag).",
                   targets((f"sum by (queue) (rqueues_queue_waiting{{{Q}}})", "{{queue}}")), "none"),
        timeseries("Limit in use by queue",
                   "Share of each capped queue's concurrency limit held; 100% means every permit is "
                   "taken. Unlimited queues are not shown.",
                   targets((f"max by (queue) (queue:rqueues_limit_saturation:ratio{{{Q}}})", "{{queue}}")),
                   "percentunit", min=0, max=1),
        timeseries("Completions by queue", "Jobs that succeeded per second.",
                   targets((f'sum by (queue) (rate(rqueues_queue_finished_total{{{Q}, outcome="succeeded"}}'
                            f"[{RATE}]))", "{{queue}}")), "ops"),
        timeseries("Failure ratio by queue",
                   "Share of finished jobs that failed or were dead-lettered (retried attempts excluded).",
                   targets((f"sum by (queue) (rate(rqueues_queue_finished_total{{{Q}, "
                            f'outcome=~"failed|dead"}}[{RATE}])) / sum by (queue) '
                            f"(rate(rqueues_queue_finished_total{{{Q}, "
                            f'outcome=~"succeeded|failed|dead"}}[{RATE}]))', "{{queue}}")),
                   "percentunit", min=0),
        timeseries("p95 wait by queue", "Time from a job's stream entry (enqueue or due time) to its start.",
                   targets((f"histogram_quantile(0.95, sum by (queue, le) "
                            f"(rate(rqueues_queue_wait_seconds_bucket{{{Q}}}[{RATE}])))", "{{queue}}")), "s"),
        timeseries("Oldest waiting job", "Age of the first job not yet delivered.",
                   targets((f"max by (queue) (rqueues_queue_oldest_waiting_age_seconds{{{Q}}})",
                            "{{queue}}")), "s"),
        timeseries("Dead letters", "Jobs in each queue's dead-letter stream (`rqueues dead`).",
                   targets((f"sum by (queue) (rqueues_queue_dead{{{Q}}})", "{{queue}}")), "none"),
        timeseries("Scheduled", "Jobs waiting for their due time: delays and retries.",
                   targets((f"sum by (queue) (rqueues_queue_scheduled{{{Q}}})", "{{queue}}")), "none"),
        timeseries("Paused queues", "1 while a queue is paused: it accepts jobs and starts none.",
                   targets((f"max by (queue) (rqueues_queue_paused{{{Q}}}) > 0", "{{queue}}")), "none"),
    ]  # fmt: skip
    return dashboard(
        "rqueues-overview",
        "rqueues / Overview",
        "Every queue at a glance: backlog, limits, throughput, failures, waits, and what holds each back.",
        panels,
        queue_multi=True,
        task=False,
    )


def queue() -> dict:
    one = 'job=~"$job", queue=~"$queue"'
    panels = [
        stat("Limit", "Declared concurrency limit (0 = unlimited).",
             f"max(rqueues_queue_concurrency_limit{{{one}}})", w=3,
             mappings=[{"type": "value", "options": {"0": {"text": "unlimited", "index": 0}}}]),
        stat("In use", "Permits held (unexpired leases).", f"max(rqueues_queue_in_use{{{one}}})", w=3),
        stat("Waiting", "Not yet delivered.", f"max(rqueues_queue_waiting{{{one}}})", w=3),
        stat("Running", "Delivered to live workers.", f"max(rqueues_queue_running{{{one}}})", w=3),
        stat("Scheduled", "Delayed jobs and retries.", f"max(rqueues_queue_scheduled{{{one}}})", w=3),
        stat("Dead", "Dead-lettered jobs.", f"max(rqueues_queue_dead{{{one}}})", w=3,
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat("Stalled", "Held by dead workers.", f"max(rqueues_queue_stalled{{{one}}})", w=3,
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat("Consumers", "Live workers consuming this queue.", f"max(rqueues_queue_consumers{{{one}}})", w=3,
             thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
        stat("Paused", "1 while the queue is paused (`rqueues pause`): it accepts jobs and starts none.",
             f"max(rqueues_queue_paused{{{one}}})", w=3,
             mappings=[{"type": "value", "options": {"0": {"text": "running", "index": 0},
                                                     "1": {"text": "paused", "index": 1}}}],
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat("Rate limit", "Declared rate limit, jobs per second over all workers; empty when none.",
             f"max(rqueues_queue_rate_limit_per_second{{{one}}})", "ops", w=3),
        bottleneck(f"max by (queue) (queue:rqueues_bottleneck:state{{{one}}})", h=4),
        timeseries("Backlog and limit",
                   "Waiting growing while in use sits at the limit: limit-bound. Waiting growing while "
                   "in use stays under the limit: worker-bound.",
                   targets((f"max(rqueues_queue_waiting{{{one}}})", "waiting"),
                           (f"max(rqueues_queue_in_use{{{one}}})", "in use"),
                           (f"max(rqueues_queue_concurrency_limit{{{one}}} > 0)", "limit")), "none"),
        timeseries("Acquires denied",
                   "Claims the limit refused, per second, over all workers: steady while limit-bound.",
                   targets((f"sum(rate(rqueues_acquires_denied_total{{{one}}}[{RATE}]))", "denied")), "ops"),
        timeseries("Finished by outcome", "Jobs finished per second by outcome (retry: a failed attempt "
                   "that will run again).",
                   targets((f"sum by (outcome) (rate(rqueues_queue_finished_total{{{one}}}[{RATE}]))",
                            "{{outcome}}")), "ops"),
        timeseries("Wait time", "Quantiles of the time from stream entry to start.",
                   targets(*[(f"histogram_quantile({q}, sum by (le) "
                              f"(rate(rqueues_queue_wait_seconds_bucket{{{one}}}[{RATE}])))",
                              f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)]), "s"),
        heatmap("Wait time distribution", "How many jobs waited how long, per interval.",
                f"sum by (le) (increase(rqueues_queue_wait_seconds_bucket{{{one}}}[{RATE}]))"),
        timeseries("Oldest waiting job", "Age of the first job not yet delivered.",
                   targets((f"max(rqueues_queue_oldest_waiting_age_seconds{{{one}}})", "oldest")), "s"),
        timeseries("Run time p95 by task", "From the workers' own metrics.",
                   targets((f"histogram_quantile(0.95, sum by (task, le) "
                            f"(rate(rqueues_job_run_seconds_bucket{{{QT}}}[{RATE}])))", "{{task}}")), "s"),
        timeseries("Finished by task and outcome", "From the workers' own metrics.",
                   targets((f"sum by (task, outcome) (rate(rqueues_jobs_completed_total{{{QT}}}[{RATE}]))",
                            "{{task}} {{outcome}}")), "ops"),
        timeseries("Wait p95 by task", "From the workers' own metrics.",
                   targets((f"histogram_quantile(0.95, sum by (task, le) "
                            f"(rate(rqueues_job_wait_seconds_bucket{{{QT}}}[{RATE}])))", "{{task}}")), "s"),
        timeseries("Timeouts and memory kills", "Jobs past their timeout per second, by executor, and "
                   "process-executor jobs killed past max_memory_per_child, over all workers.",
                   targets((f"sum by (executor) (rate(rqueues_queue_timeouts_total{{{one}}}[{RATE}]))",
                            "timeouts {{executor}}"),
                           (f"sum(rate(rqueues_queue_memory_kills_total{{{one}}}[{RATE}]))", "memory kills")),
                   "ops"),
        timeseries("Stalled, expired leases, overdue",
                   "Stalled: held by dead workers. Expired leases: not renewed, not yet pruned. Overdue: "
                   "scheduled jobs past their due time. All should return to 0 within seconds.",
                   targets((f"max(rqueues_queue_stalled{{{one}}})", "stalled"),
                           (f"max(rqueues_queue_expired_leases{{{one}}})", "expired leases"),
                           (f"max(rqueues_queue_scheduled_due{{{one}}})", "overdue")), "none"),
    ]  # fmt: skip
    return dashboard(
        "rqueues-queue",
        "rqueues / Queue",
        "One queue: its limit and who holds it, backlog, outcomes, waits and run times by task.",
        panels,
        queue_multi=False,
        task=True,
    )


def workers() -> dict:
    j = 'job=~"$job"'
    panels = [
        stat("Live workers", "From Redis (the exporter).", f"sum(rqueues_workers_live{{{j}}})", w=6,
             thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
        stat("Slots", "Job slots of the workers Prometheus scrapes.",
             f"sum(rqueues_worker_slots{{{j}}})", w=6),
        stat("Busy slots", "Jobs running on those workers.", f"sum(rqueues_jobs_running{{{Q}}})", w=6),
        stat("Utilization", "Busy share of all slots.",
             f"sum(rqueues_jobs_running{{{j}}}) / sum(rqueues_worker_slots{{{j}}})", "percentunit", w=6),
        timeseries("Slot utilization by worker",
                   "Near 100% with a growing backlog: worker-bound. Low while queues wait: limit-bound "
                   "(see Acquires denied) or tags that do not match.",
                   targets((f"instance:rqueues_slot_utilization:ratio{{{j}}}", "{{instance}}")),
                   "percentunit", min=0, max=1),
        timeseries("Running by queue", "Jobs running on scraped workers, by queue.",
                   targets((f"sum by (queue) (rqueues_jobs_running{{{Q}}})", "{{queue}}")), "none"),
        timeseries("Busy slots by executor", "Slots running a job, by the executor of its queue "
                   "(thread, process: a child process each, asyncio: tasks on the worker's loop).",
                   targets((f"sum by (executor) (rqueues_worker_busy_slots{{{j}}})", "{{executor}}")),
                   "none"),
        timeseries("Child restarts by reason",
                   "Process-executor children replaced per second. recycled: after max_jobs_per_child; "
                   "killed_timeout, killed_memory, stopped: killed by the worker; died: on their own (a "
                   "signal, a crash, the kernel's OOM killer), which should stay near 0.",
                   targets((f"sum by (instance, reason) "
                            f"(rate(rqueues_worker_child_restarts_total{{{j}}}[{RATE}]))",
                            "{{instance}} {{reason}}")), "ops"),
        timeseries("Timeouts by queue and executor",
                   "Jobs past their timeout per second. thread: returned late (a thread cannot be "
                   "stopped); process: its child killed; asyncio: its task cancelled.",
                   targets((f"sum by (queue, executor) (rate(rqueues_job_timeouts_total{{{Q}}}[{RATE}]))",
                            "{{queue}} {{executor}}")), "ops"),
        timeseries("Memory kills by queue",
                   "Process-executor jobs killed per second because their child passed the queue's "
                   "max_memory_per_child (JobOutOfMemory).",
                   targets((f"sum by (queue) (rate(rqueues_job_memory_kills_total{{{Q}}}[{RATE}]))",
                            "{{queue}}")), "ops"),
        timeseries("Finished by worker", "Jobs finished per second.",
                   targets((f"sum by (instance) (rate(rqueues_jobs_completed_total{{{QT}}}[{RATE}]))",
                            "{{instance}}")), "ops"),
        timeseries("Failures by worker", "Jobs that failed or were dead-lettered, per second.",
                   targets((f"sum by (instance) (rate(rqueues_jobs_completed_total{{{QT}, "
                            f'outcome=~"failed|dead"}}[{RATE}]))', "{{instance}}")), "ops"),
        timeseries("Heartbeat age", "Seconds since each worker's heartbeat; the reaper treats a worker "
                   "as dead past --dead-after (5 s by default).",
                   targets((f"time() - rqueues_worker_last_heartbeat_timestamp_seconds{{{j}}}",
                            "{{instance}}")), "s"),
        timeseries("Redis errors", "Failed Redis calls per second, by where.",
                   targets((f"sum by (instance, where) (rate(rqueues_redis_errors_total{{{j}}}[{RATE}]))",
                            "{{instance}} {{where}}")), "ops"),
        timeseries("Run time p95 by task", "Time from claim to outcome.",
                   targets((f"histogram_quantile(0.95, sum by (task, le) "
                            f"(rate(rqueues_job_run_seconds_bucket{{{QT}}}[{RATE}])))", "{{task}}")), "s"),
        timeseries("Acquires denied by queue", "Claims refused because the queue's limit was full.",
                   targets((f"sum by (queue) (rate(rqueues_acquires_denied_total{{{Q}}}[{RATE}]))",
                            "{{queue}}")), "ops"),
        timeseries("CPU", "CPU seconds per second of each worker process.",
                   targets((f"rate(process_cpu_seconds_total{{{j}}}[{RATE}])", "{{instance}}")),
                   "percentunit"),
        timeseries("Memory", "Resident memory of each worker process.",
                   targets((f"process_resident_memory_bytes{{{j}}}", "{{instance}}")), "bytes"),
        table("Live workers and tags", "Every live worker as the exporter reads it from Redis.",
              f"rqueues_cluster_worker_info{{{j}}}"),
    ]  # fmt: skip
    return dashboard(
        "rqueues-workers",
        "rqueues / Workers",
        "Workers: slots and how busy they are, outcomes, heartbeats, Redis errors, run times, resources.",
        panels,
        queue_multi=True,
        task=True,
    )


DASHBOARDS = {"overview.json": overview, "queue.json": queue, "workers.json": workers}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, build in DASHBOARDS.items():
        (OUT / name).write_text(render(build))
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
