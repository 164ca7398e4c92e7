"""What the django-q2 cluster is doing: depth, clusters, recent failures."""

from django_q.brokers import get_broker
from django_q.models import Failure
from django_q.status import Stat


def queue_depth() -> int:
    """Tasks waiting in the broker (0 when the broker cannot be reached)."""
    try:
        return int(get_broker().queue_size() or 0)
    except Exception:
        return 0


def queue_status(failures: int = 10) -> dict:
    """Depth, running clusters and the most recent failed tasks; with the broker out of reach, says so
    (`broker_reachable` false, and why) and still lists the failures, which the database keeps."""
    broker = get_broker()
    try:
        clusters = _clusters()
        depth, reachable, problem = int(broker.queue_size() or 0), True, ""
    except Exception as exc:  # the broker's client (Redis) raises its own error types
        clusters, depth, reachable = [], None, False
        problem = f"the task broker cannot be reached ({type(exc).__name__}): tasks wait or run inline"
    recent = [
        {"id": f.id, "name": f.name, "func": f.func, "stopped": f.stopped, "result": str(f.result)[:500]}
        for f in Failure.objects.order_by("-stopped")[:failures]
    ]
    return {
        "broker": type(broker).__name__,
        "broker_reachable": reachable,
        "broker_error": problem,
        "queue_depth": depth,
        "clusters": clusters,
        "running_clusters": len(clusters),
        "recent_failures": recent,
    }


def _clusters() -> list[dict]:
    return [
        {
            "id": str(stat.cluster_id),
            "host": stat.host,
            "status": stat.status,
            "workers": len(stat.workers),
            "uptime_s": round(stat.uptime()),
            "task_q_size": stat.task_q_size,
        }
        for stat in Stat.get_all()
    ]
