"""Watching one swarm: the events follower apart from the refresher that re-lists, the watcher that
runs them and publishes the model."""

from dashboard.core.watch.base import Dirty, Subscriber, TaskTable, WatchSettings
from dashboard.core.watch.watcher import Watcher

__all__ = ["Dirty", "Subscriber", "TaskTable", "WatchSettings", "Watcher"]
